#!/bin/sh
# Browser tests drive Debian's Chromium. Install it when missing and we are allowed to;
# otherwise the browser tests skip with a message (or fail under CROWDCLEAN_REQUIRE_BROWSER=1).
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium for the browser tests" >&2
    (apt-get install -y -q chromium >/dev/null 2>&1 || \
        (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
        || echo "could not install chromium; browser tests will skip" >&2
fi
exit 0
