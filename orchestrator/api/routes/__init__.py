"""One router per resource: datasets, campaigns, items, exports, dashboard, meta."""
