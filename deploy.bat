@echo off
rem deploy.bat: find Python 3.11 and run FMW's deploy step, ops\deploy, with these arguments.
rem Everything else is Python (standard library only): docs/deploy.md, "What deploy.bat does".
rem Python: the python.exe FMW_DEPLOY_PYTHON names when it is set, else "py -3.11".

if defined FMW_DEPLOY_PYTHON goto configured_python
py -3.11 "%~dp0ops\deploy" %*
exit /b %ERRORLEVEL%

rem configured_python: run ops\deploy with the python.exe that FMW_DEPLOY_PYTHON names.
:configured_python
"%FMW_DEPLOY_PYTHON%" "%~dp0ops\deploy" %*
exit /b %ERRORLEVEL%
