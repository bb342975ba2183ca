"""The FMW dashboard (installed as ``fmw.ui``): Streamlit pages over snapshot files.

``streamlit_app.py`` is the entry point (``fmw ui`` runs it), ``app_pages/``
holds one script per page; everything else here is plain Python with no
Streamlit calls, except ``view.py``, the one module pages share for Streamlit
glue (caching, the language switch, the freshness banner). Nothing in this
package may import psycopg or SQLAlchemy: the dashboard reads snapshot files only.
"""
