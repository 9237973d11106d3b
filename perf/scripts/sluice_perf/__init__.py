"""sluice-perf: the load-test harness (perf/scripts/run.sh). Python 3 standard library only."""
