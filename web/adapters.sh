#!/usr/bin/env bash
# Trunk post-build hook: copies the shipped LoRA adapters
# (assets/adapters/NAME/{adapter_config.json,adapter_model.safetensors,card.md})
# next to the page as adapters/NAME/ and writes adapters/index.json, the
# listing the page reads ([{"name", "card"}]). Folders without both PEFT
# files are skipped; no folder at all gives an empty listing.
set -euo pipefail
src="${TRUNK_SOURCE_DIR:-$(pwd)}/assets/adapters"
out="${TRUNK_STAGING_DIR:?run by trunk}/adapters"
mkdir -p "$out"

# A JSON string from a file's text (backslashes, quotes, tabs, line breaks, CRs).
json_string() {
  printf '"'
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\r/\\r/g' "$1" | awk '{ printf "%s\\n", $0 }'
  printf '"'
}

entries=()
if [ -d "$src" ]; then
  for dir in "$src"/*/; do
    [ -d "$dir" ] || continue
    name="$(basename "$dir")"
    [ -f "$dir/adapter_config.json" ] && [ -f "$dir/adapter_model.safetensors" ] || continue
    mkdir -p "$out/$name"
    cp "$dir/adapter_config.json" "$dir/adapter_model.safetensors" "$out/$name/"
    if [ -f "$dir/card.md" ]; then
      cp "$dir/card.md" "$out/$name/"
      card="$(json_string "$dir/card.md")"
    else
      card='""'
    fi
    entries+=("{\"name\": \"$name\", \"card\": $card}")
  done
fi
{
  printf '['
  for i in "${!entries[@]}"; do
    [ "$i" -gt 0 ] && printf ','
    printf '\n  %s' "${entries[$i]}"
  done
  printf '\n]\n'
} > "$out/index.json"
echo "adapters.sh: ${#entries[@]} adapter(s) listed in adapters/index.json"
