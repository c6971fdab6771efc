"""Builders of test state, one module per kind of campaign, so a test picks by what it needs:

* :mod:`.crowd_campaign`: rows only (text items, crowd options, an open round) for the crowd
  layer against the simulator;
* :mod:`.tiny_campaign`: a real stored dataset and a campaign the scheduler runs end to end;
* :mod:`.stored_campaign`: a campaign as it stands after a round (rows and artifacts written
  directly, no run) for the API, exports and the status benchmark;
* :mod:`.simulators`: the boto3 platform pointed at a running simulator.
"""
