#!/usr/bin/env bash
# Why movement pruning does or does not beat magnitude pruning on the
# fine-tuning task of bench/fineprune.sh: which weights each method kept.
# Takes one seed's runs at the highest sparsity (magnitude and movement at the
# smallest remaining share, soft movement at the largest lambda), runs
# bench_fineprune_distributions on them, prints its Markdown tables and draws
# per pruned layer into docs/img/:
#   fineprune-scatter-<layer>.png  W0 (pretrained) vs W (fine-tuned) of the
#                                  kept weights, one panel per method (the
#                                  style of Sanh et al. 2020, Figure 2)
#   fineprune-w0hist-<layer>.png   |W0| of the kept weights against all weights
#   fineprune-scores-<layer>.png   final scores of movement and soft movement,
#                                  all weights and the kept ones
# Needs the runs of bench/fineprune.sh (it does not start them) and gnuplot.
#
#   bash bench/fineprune_plots.sh
#
# BUILD=dir build directory (default build-bench), SEED=n the runs' seed
# (default 0), RUNS=dir (default runs/bench-fineprune), OUT=dir for the
# per-weight TSV files (default runs/fineprune-distributions), JOBS=n build jobs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=${BUILD:-$root/build-bench}
seed=${SEED:-0}
runs=${RUNS:-$root/runs/bench-fineprune}
out=${OUT:-$root/runs/fineprune-distributions}
img=$root/docs/img
command -v gnuplot > /dev/null || { echo "fineprune_plots.sh: gnuplot not found" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFRUGAL_BUILD_BENCH=ON \
  -DFRUGAL_BUILD_TESTS=OFF > /dev/null
cmake --build "$build" --target bench_fineprune_distributions -j"${JOBS:-$(nproc)}" > /dev/null

# The run of `method` whose setting (the middle part of method-setting-seed,
# with a leading "l" for a lambda) sorts first under `order` (sort flags).
pick() {
  local method=$1 order=$2 dir
  dir=$(for d in "$runs/$method"-*-"$seed"; do
          [[ -f $d/model.pt ]] || continue
          s=${d##*/$method-}; s=${s%-"$seed"}; echo "${s#l} $d"
        done | sort $order | head -n1 | cut -d' ' -f2-)
  [[ -n $dir ]] || { echo "fineprune_plots.sh: no finished $method run for seed $seed in $runs" >&2; exit 1; }
  echo "$dir"
}
magnitude=$(pick magnitude -g)
movement=$(pick movement -g)
soft=$(pick soft_movement -gr)
[[ -f $runs/pretrain/model.pt ]] || { echo "fineprune_plots.sh: no $runs/pretrain/model.pt" >&2; exit 1; }

mkdir -p "$out" "$img"
"$build/bench_fineprune_distributions" "$runs/pretrain/model.pt" "$out" \
  "$magnitude" "$movement" "$soft" | tee "$out/tables.md"

mag=${magnitude##*/} mov=${movement##*/} sft=${soft##*/}
for tsv in "$out/$mag".*.tsv; do
  layer=${tsv#"$out/$mag."}; layer=${layer%.tsv}
  short=${layer%.weight}
  gnuplot <<GP
set terminal pngcairo size 900,350 font ",9" noenhanced
set datafile separator "\t"
files = "$out/$mag.$layer.tsv $out/$mov.$layer.tsv $out/$sft.$layer.tsv"
titles = "$mag $mov $sft"
colors = "#1f77b4 #d62728 #ff7f0e"
# Columns: 1 w0, 2 w (masked), 3 score, 4 kept, 5 sample, 6 w unmasked.
# All stats come first: stats obeys the axis ranges the plots set.
array nall[3]; array nkept[3]; array smin[3]; array smax[3]; array thr[3]
lim = 0
do for [i=1:3] {
  f = word(files, i)
  stats f using (\$5 == 1 ? 1 : 1/0) nooutput
  nall[i] = STATS_records
  stats f using (\$4 == 1 ? 1 : 1/0) nooutput
  nkept[i] = STATS_records
  # Common scatter range: the largest |W0| or |W| kept by any method.
  stats f using (\$4 == 1 ? abs(\$1) : 1/0) nooutput
  lim = (STATS_max > lim ? STATS_max : lim)
  stats f using (\$4 == 1 ? abs(\$2) : 1/0) nooutput
  lim = (STATS_max > lim ? STATS_max : lim)
  if (i > 1) {
    stats f using (\$5 == 1 ? \$3 : 1/0) nooutput
    smin[i] = STATS_min; smax[i] = STATS_max
    stats f using (\$4 == 1 ? \$3 : 1/0) nooutput
    thr[i] = STATS_min
    smin[i] = (thr[i] < smin[i] ? thr[i] : smin[i]); smax[i] = (STATS_max > smax[i] ? STATS_max : smax[i])
  }
}
lim = 1.05 * lim
stats word(files, 1) using (\$5 == 1 ? abs(\$1) : 1/0) nooutput
w0max = STATS_max

set output "$img/fineprune-scatter-$short.png"
set multiplot layout 1,3 title "$layer: kept weights, pretrained W0 vs fine-tuned W (seed $seed)"
set xrange [-lim:lim]; set yrange [-lim:lim]
set size ratio -1
set xzeroaxis lt 0; set yzeroaxis lt 0
set xlabel "W0 (pretrained)"; set ylabel "W (fine-tuned)"
set key bottom right samplen 1
do for [i=1:3] {
  set title sprintf("%s (%d kept)", word(titles, i), nkept[i])
  plot word(files, i) using (\$4 == 1 ? \$1 : 1/0):2 with points pt 7 ps 0.25 lc rgb word(colors, i) notitle, \
       x with lines lt 0 lc rgb "black" title "W = W0"
}
unset multiplot
set size noratio; set size 1,1
unset xzeroaxis; unset yzeroaxis
set autoscale

# |W0| histograms, each distribution normalized to sum 1. Rows are filtered
# through the weight (0 for the other rows), not with 1/0: smooth freq sums
# each run of defined points on its own.
bw = w0max / 60.0
bin(x) = bw * (floor(x / bw) + 0.5)
set boxwidth bw absolute
set output "$img/fineprune-w0hist-$short.png"
set multiplot layout 1,3 title "$layer: |W0| of kept weights vs all weights (share per bin, seed $seed)"
set xlabel "|W0| (pretrained)"; set ylabel "share of weights"
set xrange [0:w0max * 1.02]
# At most about five labelled ticks, on a 1-2-5 step.
step = 10**floor(log10(w0max / 5.0))
step = (w0max / step > 25 ? 10 * step : (w0max / step > 10 ? 5 * step : 2 * step))
set xtics step
set style fill transparent solid 0.5 noborder
set key top right samplen 1
do for [i=1:3] {
  f = word(files, i)
  set title word(titles, i)
  plot f using (bin(abs(\$1))):(\$5 == 1 ? 1.0 / nall[i] : 0) smooth freq with boxes lc rgb "#999999" title "all", \
       f using (bin(abs(\$1))):(\$4 == 1 ? 1.0 / nkept[i] : 0) smooth freq with boxes lc rgb word(colors, i) title "kept"
}
unset multiplot
set autoscale
set xtics autofreq

# Final scores of the learned-score methods; the dashed line is the smallest
# kept score (the effective threshold).
set output "$img/fineprune-scores-$short.png"
set multiplot layout 1,2 title "$layer: final scores, all weights vs kept (share per bin, seed $seed)"
set xlabel "score S"; set ylabel "share of weights"
set key top left samplen 1
do for [i=2:3] {
  f = word(files, i)
  sw = (smax[i] - smin[i]) / 80.0
  lo = smin[i]
  sbin(x) = lo + sw * (floor((x - lo) / sw) + 0.5)
  set boxwidth sw absolute
  set xrange [smin[i] - sw:smax[i] + sw]
  set arrow 1 from thr[i], graph 0 to thr[i], graph 1 nohead dt 2 lc rgb "black"
  set title sprintf("%s (threshold %.3g)", word(titles, i), thr[i])
  plot f using (sbin(\$3)):(\$5 == 1 ? 1.0 / nall[i] : 0) smooth freq with boxes lc rgb "#999999" title "all", \
       f using (sbin(\$3)):(\$4 == 1 ? 1.0 / nkept[i] : 0) smooth freq with boxes lc rgb word(colors, i) title "kept"
}
unset multiplot
GP
  echo "wrote $img/fineprune-{scatter,w0hist,scores}-$short.png"
done
