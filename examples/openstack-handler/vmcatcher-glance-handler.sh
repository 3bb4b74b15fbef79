#!/bin/sh
# A vmcatcher event handler that imports cached images into OpenStack Glance (or anything with a Glance-like
# command line) and deletes them when vmcatcher expires them. Use it as the event command:
#
#   export VMCATCHER_CACHE_EVENT=/usr/local/bin/vmcatcher-glance-handler.sh
#   vmcatcher_cache
#
# Everything about the event arrives in VMCATCHER_* environment variables (never on the command line), so image
# metadata from the list cannot inject shell code here as long as every expansion stays double-quoted.
# GLANCE names the client command (default: glance).
set -eu
glance=${GLANCE:-glance}

case "${VMCATCHER_EVENT_TYPE:-}" in
AvailablePostfix)
  file="$VMCATCHER_CACHE_DIR_CACHE/$VMCATCHER_EVENT_FILENAME"
  $glance image-create \
    --name "${VMCATCHER_EVENT_DC_TITLE:-$VMCATCHER_EVENT_DC_IDENTIFIER}" \
    --disk-format "${VMCATCHER_EVENT_HV_FORMAT:-raw}" \
    --container-format bare \
    --property "vmcatcher_identifier=$VMCATCHER_EVENT_DC_IDENTIFIER" \
    --property "vmcatcher_sha512=$VMCATCHER_EVENT_SL_CHECKSUM_SHA512" \
    --property "vmcatcher_vo=${VMCATCHER_EVENT_VO:-}" \
    --file "$file"
  ;;
ExpirePrefix)
  # Delete before the file moves away; the Glance copy is no longer endorsed.
  $glance image-delete-by-property "vmcatcher_identifier=$VMCATCHER_EVENT_DC_IDENTIFIER"
  ;;
*)
  # ProcessPrefix, ProcessPostfix, AvailablePrefix, ExpirePostfix, SubscriptionImageNew: nothing to do.
  ;;
esac
