"""The billing webhook benchmark: ``python -m bench.billing`` (see ``__main__``)."""

# The lab's plan (its price id) that the panel's Pro plan is sold at in the benchmark.
PLAN_ID = "bench-pro-monthly"
