"""The plansim dashboard (Streamlit): what-if, calibration, plan vs real and live pages."""
