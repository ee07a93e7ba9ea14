"""Performance models, SLA, resource configurations, plan outputs and metric records."""
