"""The campaign domain: what a campaign is and which moves it may make.

It knows neither who drives a campaign (:mod:`orchestrator.scheduler`) nor who asks about it
(the CLI, the HTTP API); both of those import from here, never the other way round.

* :mod:`.config`: :class:`~.config.CampaignConfig`, the campaign's stored options, and the
  budget check every creation path shares.
* :mod:`.lifecycle`: the state machine, creation, and the verbs (start, pause, resume) with
  their one table, shared by the CLI and the API.
* :mod:`.cleaned_labels`: the product's central rule, the cleaned-label precedence (crowd >
  propagated > model, where the evidence allows > original) with each label's provenance,
  streamed chunk by chunk to the exports.
* :mod:`.evidence`: what the purchased answers say about the labels nobody paid for
  (importance-weighted estimates over each round's picks): the relabel gate and the accuracy
  estimate's evidence.
* :mod:`.accuracy`: how good the labels are now, with a 95 % interval (``quality_target``
  and the status document use it).
* :mod:`.status`: the status document (one builder for ``campaign status``, the API and the
  dashboard; the API caches it in :mod:`orchestrator.api.status_cache`).
"""
