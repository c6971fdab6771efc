"""The campaign domain: what a campaign is and which moves it may make.

It knows neither who drives a campaign (:mod:`orchestrator.scheduler`) nor who asks about it
(the CLI, the HTTP API); both of those import from here, never the other way round.

* :mod:`.config`: :class:`~.config.CampaignConfig`, the campaign's stored options, and the
  budget check every creation path shares.
* :mod:`.lifecycle`: the state machine, creation, and the verbs (start, pause, resume) with
  their one table, shared by the CLI and the API.
* :mod:`.status`: the status document (one builder for ``campaign status``, the API and the
  dashboard; the API caches it in :mod:`orchestrator.api.status_cache`).
"""
