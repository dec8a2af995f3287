#!/usr/bin/env bash
# `lmms check-data` on a corpus of bad inputs and on the shipped data:
#   - a dataset with a missing image, a truncated PNG, a text file named .mp4, an empty video,
#     placeholder counts that differ from the media, roles that do not alternate and a sample
#     whose image sits past --max-length: each is named (file, sample, problem), the good samples are
#     counted, exit code 1;
#   - the shipped images under a pixel cap lower than their size: each named, exit 1;
#   - the shipped image and video data with the tiny Qwen2-VL: no problem, token statistics, exit 0.
#   check_data.sh SOURCE_DIR LMMS WORK_DIR
set -euo pipefail
src="$1" lmms="$2" work="$3"
cd "$src"
rm -rf "$work" && mkdir -p "$work/media"
cp example_data/shapes/images/train_000.png example_data/shapes/images/train_001.png "$work/media/"
size=$(stat -c %s example_data/shapes/images/train_002.png)
head -c $((size - 20)) example_data/shapes/images/train_002.png > "$work/media/truncated.png"  # IEND and part of IDAT gone
echo "not a video" > "$work/media/text.mp4"
: > "$work/media/empty.mp4"
cp example_data/shapes/videos/train_000.mp4 "$work/media/good.mp4"
long=$(printf 'word %.0s' $(seq 1 300))
cat > "$work/bad.json" <<JSON
[
 {"image": "train_000.png", "conversations": [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "Red."}]},
 {"image": "missing.png", "conversations": [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "Red."}]},
 {"image": "truncated.png", "conversations": [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "Red."}]},
 {"video": "text.mp4", "conversations": [{"from": "human", "value": "<video>\nWhere?"}, {"from": "gpt", "value": "Left."}]},
 {"video": "empty.mp4", "conversations": [{"from": "human", "value": "<video>\nWhere?"}, {"from": "gpt", "value": "Left."}]},
 {"image": ["train_000.png", "train_001.png"], "conversations": [{"from": "human", "value": "<image>\nColour?"}, {"from": "gpt", "value": "Red."}]},
 {"conversations": [{"from": "human", "value": "Hi"}, {"from": "human", "value": "Hello"}]},
 {"image": "train_001.png", "conversations": [{"from": "human", "value": "$long <image>"}, {"from": "gpt", "value": "Yes."}]},
 {"video": "good.mp4", "conversations": [{"from": "human", "value": "<video>\nWhere?"}, {"from": "gpt", "value": "Left."}]}
]
JSON
model=example_data/models/tiny-qwen2-vl-shapes
set +e
"$lmms" check-data --data "$work/bad.json" --image-folder "$work/media" --video-folder "$work/media" --model "$model" \
  --max-length 200 > "$work/bad.out" 2>&1
rc=$?
set -e
cat "$work/bad.out"
[ "$rc" = 1 ] || { echo "FAIL: exit code $rc, expected 1"; exit 1; }
expect() { grep -q -- "$1" "$work/bad.out" || { echo "FAIL: no line names: $1"; exit 1; }; }
expect "sample 1: .*missing.png"
expect "sample 2: .*truncated.png"
expect "sample 3: .*text.mp4"
expect "sample 4: .*empty.mp4"
expect "sample 5: .*"
expect "sample 6: .*"
expect "sample 7: .*max_length 200 would cut a media span"
grep -q '"problems":7' "$work/bad.out" || { echo "FAIL: expected 7 problems"; exit 1; }
grep -q '"samples":9' "$work/bad.out" || { echo "FAIL: expected 9 samples"; exit 1; }
echo "7 bad samples named, the 2 good ones kept"
# the pixel cap: read from the headers, each image over it named
set +e
"$lmms" check-data --data example_data/shapes/train.json --image-folder example_data/shapes/images --max-image-pixels 1000 \
  > "$work/cap.out" 2>&1
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "sample 0: image .* pixels, over the limit of 1000" "$work/cap.out" \
  || { cat "$work/cap.out"; echo "FAIL: pixel cap"; exit 1; }
echo "images over --max-image-pixels named"
for data in train train_video; do
  "$lmms" check-data --data example_data/shapes/$data.json --image-folder example_data/shapes/images \
    --video-folder example_data/shapes/videos --model "$model" > "$work/$data.out" || { cat "$work/$data.out"; echo "FAIL: $data"; exit 1; }
  cat "$work/$data.out"
  grep -q '"problems":0' "$work/$data.out" && grep -q '"median"' "$work/$data.out" || { echo "FAIL: $data summary"; exit 1; }
done
echo "the shipped data: no problems, token statistics printed"
