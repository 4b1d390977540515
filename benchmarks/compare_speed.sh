#!/usr/bin/env bash
# Mapping and model speed of two checkouts on one machine, alternated round by round (drift hits both alike):
#   bash benchmarks/compare_speed.sh BEFORE_DIR AFTER_DIR [ROUNDS]
# e.g. git worktree add /tmp/before <commit>; bash benchmarks/compare_speed.sh /tmp/before . 5
# Prints one JSON line per measurement, prefixed by MAP|MODEL, the checkout's folder and the round.
set -uo pipefail
before=$(cd "$1" && pwd); after=$(cd "$2" && pwd); rounds=${3:-5}
py=${PYTHON:-"$after/.venv/bin/python"}
video=${VIDEO:-/tmp/halsted-compare-2min.mp4}
[ -f "$video" ] || (cd "$after" && PYTHONPATH="$after" "$py" benchmarks/map_video.py --minutes 2 --keep-video "$video" >/dev/null)
for round in $(seq 1 "$rounds"); do
  for dir in "$before" "$after"; do
    (cd "$dir" && PYTHONPATH="$dir" "$py" benchmarks/map_video.py --video "$video" --mapping full 2>/dev/null \
       | tail -1 | sed "s|^|MAP $dir $round |")
    (cd "$dir" && PYTHONPATH="$dir" "$py" benchmarks/model_speed.py --model halsted_hf/assets/demo-model --repeats 5 \
       --device cpu 2>/dev/null | tail -2 | sed "s|^|MODEL $dir $round |")
  done
done
