"""The benchmark harness behind ``crowdclean bench`` (see ``benchmarks/results/bench.md``).

* :mod:`orchestrator.bench.protocol`: datasets, held-out split, noise, budgets, one cell at a
  time, resumable rows (``run_bench``);
* :mod:`orchestrator.bench.methods`: the method registry (crowdclean, ablations, baselines);
* :mod:`orchestrator.bench.crowd`: the cell's simulator + boto3 crowd and the paid access
  methods get to it;
* :mod:`orchestrator.bench.shared`: cached work shared between methods;
* :mod:`orchestrator.bench.metrics` and :mod:`orchestrator.bench.report`.

Part of the CLI layer (like :mod:`orchestrator.demo`): it starts the in-process simulator.
"""
