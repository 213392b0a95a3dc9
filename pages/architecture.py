import streamlit as st
st.title("Architecture")
