"""The dashboard's pages, one Streamlit script each, run by ``st.navigation``.

They are scripts, not modules to import: each renders only when Streamlit
executes it (``__name__ == "__main__"``).
"""
