"""Home: the lesson overview, from the spec's metadata."""

import streamlit as st

from core.lesson import LESSON


def render() -> None:
    st.title("Transformer Architecture Lab")
    st.subheader(LESSON.title)
    st.markdown(
        "An interactive lesson on how a transformer works inside: the **residual stream** every "
        "component reads from and writes to, **attention heads** and their **QK/OV circuits**, the "
        "**exact decomposition** of the output into paths, and how all of it maps onto a production "
        "model like GPT-2. Change the model and the input on each page and watch the numbers move."
    )

    c1, c2, c3 = st.columns(3)
    c1.metric("Estimated time", f"~{LESSON.duration_minutes} minutes")
    c2.metric("Level", "Intermediate")
    c3.metric("Pass mark", f"{LESSON.passing_threshold:.0%}")
    st.caption(f"Level detail: {LESSON.level}")

    st.markdown("#### Before you start")
    st.markdown("\n".join(f"- {p}" for p in LESSON.prerequisites))

    st.markdown("#### Learning objectives")
    st.table(
        {
            "Objective": [o.id for o in LESSON.objectives],
            "You will be able to": [o.text for o in LESSON.objectives],
            "Page": [LESSON.page(o.page).title for o in LESSON.objectives],
        }
    )
    st.markdown(
        "Work through the pages in the sidebar in order: Architecture, Residual stream and "
        "Production mapping each serve one objective and end with a checkpoint; **Circuits in a "
        "trained model** shows what the lesson's trained models learned (previous-token and "
        "induction heads, copying, composition) and has no checkpoint of its own. The final "
        "assessment (pass mark 85%) brings the three objectives together."
    )


if __name__ == "__main__":  # run as a script only by the legacy pages-directory mode
    from ui.navigation import reroute_to_app

    reroute_to_app()
