"""Final assessment: all summative questions, a review step, then the graded report."""

import streamlit as st

from core.assessment import SUMMATIVE_ID
from ui.assessment_ui import final_assessment


def render() -> None:
    st.title("Final assessment")
    final_assessment(SUMMATIVE_ID)


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
