"""Class view for the instructor of a hosted class (password or listed sign-in only)."""

import streamlit as st

from ui.instructor_ui import class_view


def render() -> None:
    st.title("Class view (instructors)")
    class_view()


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
