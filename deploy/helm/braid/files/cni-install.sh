#!/bin/sh
# Installs braid-cni on the node, and removes exactly what it installed.
#
#   cni-install.sh install     copy braid-cni into CNI_BIN_DIR; in chained mode, write a conflist
#                              that is the primary plugin's list with braid-cni appended
#   cni-install.sh uninstall   remove the files the last install wrote, if they are unchanged
#
# Run by the agent DaemonSet's init container (install) and the agent's preStop hook (uninstall).
# Every file written is recorded with its SHA-256 in BRAID_RECORD; uninstall removes a recorded
# file only while its content is still what was written, so a file someone (or a newer install)
# replaced is left alone, and nothing that was not recorded is ever touched.
#
# Environment (the chart sets every one):
#   BRAID_CNI_MODE       chained | multus
#   BRAID_CNI_SRC        the braid-cni binary in the image
#   CNI_BIN_DIR          host directory of CNI binaries (mounted)
#   CNI_CONF_DIR         host directory of CNI configurations (mounted; chained mode)
#   BRAID_CONF_NAME      chained: file name of the conflist to write (sorts before the primary's)
#   BRAID_BASE_CONFIG    chained: the primary's file name in CNI_CONF_DIR; empty: the first
#                        *.conf / *.conflist there that is not ours
#   BRAID_PLUGIN_FILE    chained: braid-cni's plugin entry (JSON object)
#   BRAID_WAIT_SECONDS   chained: how long to wait for the primary's configuration
#   BRAID_RECORD         the install record (on the host, under the agent's state directory)
# Needs: sh, jq, sha256sum, cp, mv, rm.
set -eu

log() { echo "cni-install: $*" >&2; }
die() { log "$*"; exit 1; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# Writes stdin to $1 atomically (a temporary file beside it, then rename) and records it.
put() {
  dest=$1 mode=$2
  tmp="$dest.braid-tmp.$$"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  printf '%s  %s\n' "$(sha "$dest")" "$dest" >>"$BRAID_RECORD.new"
  log "wrote $dest"
}

# The primary plugin's configuration: BRAID_BASE_CONFIG, or the first file the runtime would
# read (lexical order, as libcni's ConfFiles) that is not Braid's own conflist.
find_base() {
  if [ -n "${BRAID_BASE_CONFIG:-}" ]; then
    [ -f "$CNI_CONF_DIR/$BRAID_BASE_CONFIG" ] && echo "$CNI_CONF_DIR/$BRAID_BASE_CONFIG"
    return 0
  fi
  for f in "$CNI_CONF_DIR"/*; do
    case "$f" in *.conf | *.conflist | *.json) ;; *) continue ;; esac
    [ "$(basename "$f")" = "$BRAID_CONF_NAME" ] && continue
    [ -f "$f" ] || continue
    echo "$f"
    return 0
  done
}

# The chained list: the primary's cniVersion(s), name and plugins (a single .conf becomes a
# one-plugin list), then braid-cni. The name stays the primary's: its IPAM keys leases by it.
chained_conflist() {
  jq --slurpfile braid "$BRAID_PLUGIN_FILE" '
    if has("plugins") then . else {cniVersion, name, plugins: [del(.cniVersion, .name)]} end
    | if any(.plugins[]; .type == "braid-cni") then error("already holds braid-cni") else . end
    | {cniVersion, name} + (if has("cniVersions") then {cniVersions} else {} end)
      + {plugins: (.plugins + $braid)}' "$1"
}

install() {
  : "${BRAID_CNI_MODE:?}" "${BRAID_CNI_SRC:?}" "${CNI_BIN_DIR:?}" "${BRAID_RECORD:?}"
  [ -x "$BRAID_CNI_SRC" ] || die "$BRAID_CNI_SRC: not an executable"
  mkdir -p "$CNI_BIN_DIR" "$(dirname "$BRAID_RECORD")"
  # A previous install's files that this one does not write again are removed first.
  [ -f "$BRAID_RECORD" ] && uninstall
  : >"$BRAID_RECORD.new"
  put "$CNI_BIN_DIR/braid-cni" 755 <"$BRAID_CNI_SRC"
  case "$BRAID_CNI_MODE" in
    multus) log "multus mode: no configuration written (the NetworkAttachmentDefinition has it)" ;;
    chained)
      : "${CNI_CONF_DIR:?}" "${BRAID_CONF_NAME:?}" "${BRAID_PLUGIN_FILE:?}"
      waited=0
      base=$(find_base)
      while [ -z "$base" ]; do
        [ "$waited" -ge "${BRAID_WAIT_SECONDS:-300}" ] &&
          die "no primary CNI configuration in $CNI_CONF_DIR after ${waited}s"
        [ "$waited" -eq 0 ] && log "waiting for the primary CNI configuration in $CNI_CONF_DIR"
        sleep 2
        waited=$((waited + 2))
        base=$(find_base)
      done
      list=$(chained_conflist "$base") || die "$base: cannot chain braid-cni after it"
      printf '%s\n' "$list" | put "$CNI_CONF_DIR/$BRAID_CONF_NAME" 644
      log "chained after $base"
      ;;
    *) die "BRAID_CNI_MODE: \"$BRAID_CNI_MODE\" is neither chained nor multus" ;;
  esac
  mv -f "$BRAID_RECORD.new" "$BRAID_RECORD"
}

uninstall() {
  : "${BRAID_RECORD:?}"
  [ -f "$BRAID_RECORD" ] || { log "nothing recorded in $BRAID_RECORD"; return 0; }
  while read -r sum path; do
    [ -n "$path" ] || continue
    if [ ! -e "$path" ]; then
      log "$path: already gone"
    elif [ "$(sha "$path")" = "$sum" ]; then
      rm -f "$path"
      log "removed $path"
    else
      log "$path: changed since it was installed; left in place"
    fi
  done <"$BRAID_RECORD"
  rm -f "$BRAID_RECORD"
}

case "${1:-}" in
  install) install ;;
  uninstall) uninstall ;;
  *) die "usage: cni-install.sh install|uninstall" ;;
esac
