"""plansim: a laboratory for serverless DAG-workflow planners."""

__version__ = "0.1.0"
