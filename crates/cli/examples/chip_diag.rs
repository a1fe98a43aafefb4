//! Where a float net loses accuracy on a chip target: per population, the float LIF rates of
//! rate mode against the chip's integer rates (the compiler's integer reference, the same
//! semantics the emulator runs), voltage saturations by sign, and the readout's decisions.
//!
//! ```text
//! cargo run --release -p lifchip-cli --example chip_diag -- \
//!     --net mnist-conv.net --target loihi-like --limit 100 --ticks 100
//! ```
//!
//! Rates are over all `--ticks` ticks of each image (the chip's counts include the start-up
//! transient, as `lifchip emulate` counts them); `skip` ticks at the start can be left out of
//! the rate comparison with `--skip`.

use std::{error::Error, path::PathBuf};

use clap::Parser;
use lifchip_compiler::{QuantizeOptions, quantize, run_reference};
use lifchip_data::{DataSource, Dataset, Split};
use lifchip_train::RateCurve;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    net: PathBuf,
    #[arg(long, default_value = "loihi-like")]
    target: String,
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[arg(long, default_value_t = 0)]
    offset: usize,
    #[arg(long, default_value_t = 100)]
    ticks: u32,
    /// Ticks at the start left out of the chip rates (the readout still counts all ticks).
    #[arg(long, default_value_t = 0)]
    skip: u32,
    #[arg(long, default_value_t = 0.005)]
    synapse_tau: f64,
    #[arg(long, default_value_t = 1.0)]
    input_rate: f64,
    /// Double every population's voltage scale (threshold, weights and bias together, exactly:
    /// one more weight and bias exponent), so the negative saturation sits at -1 threshold.
    #[arg(long)]
    double_v: bool,
    /// Scale the readout's `J - 1` by 2 (one more weight exponent, bias re-centred).
    #[arg(long)]
    readout_gain2: bool,
    /// Multiply every soft-LIF population's gain by this before quantizing (the float rates
    /// stay those of the net as trained).
    #[arg(long, default_value_t = 1.0)]
    gain_scale: f32,
}

#[derive(Clone, Default)]
struct PopStats {
    float_sum: f64,
    chip_sum: f64,
    fc: f64,
    ff: f64,
    cc: f64,
    abs_err: f64,
    n: f64,
    sat_pos: u64,
    sat_neg: u64,
    neg_ticks: u64,
    neuron_ticks: u64,
    max_v_over_vth: f64,
    float_silent_chip_active: u64,
    float_active_chip_silent: u64,
}

impl PopStats {
    fn add(&mut self, o: &PopStats) {
        self.float_sum += o.float_sum;
        self.chip_sum += o.chip_sum;
        self.fc += o.fc;
        self.ff += o.ff;
        self.cc += o.cc;
        self.abs_err += o.abs_err;
        self.n += o.n;
        self.sat_pos += o.sat_pos;
        self.sat_neg += o.sat_neg;
        self.neg_ticks += o.neg_ticks;
        self.neuron_ticks += o.neuron_ticks;
        self.max_v_over_vth = self.max_v_over_vth.max(o.max_v_over_vth);
        self.float_silent_chip_active += o.float_silent_chip_active;
        self.float_active_chip_silent += o.float_active_chip_silent;
    }
}

struct ImageResult {
    pops: Vec<PopStats>,
    label: usize,
    float_pred: usize,
    chip_pred: Option<usize>,
    tie: bool,
    margin: i64,
    late_pred: Option<usize>,
    umax: i64,
}

fn one_image(data: &Dataset, i: usize) -> Dataset {
    let px = data.rows * data.cols;
    Dataset {
        images: data.images[i * px..(i + 1) * px].to_vec(),
        labels: vec![data.labels[i]],
        n: 1,
        rows: data.rows,
        cols: data.cols,
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let net = lifchip_net::load(&args.net)?;
    let target = lifchip_target::resolve(&args.target)?;
    let opts = QuantizeOptions {
        synapse_tau: args.synapse_tau,
        input_rate: args.input_rate,
        ..QuantizeOptions::default()
    };
    let mut scaled = net.clone();
    for p in &mut scaled.populations {
        if let lifchip_net::Neuron::SoftLif(s) = &mut p.neuron {
            s.gain *= args.gain_scale;
        }
    }
    let mut q = quantize(&scaled, &target, &opts).map_err(|v| format!("{v:?}"))?;
    let readout = q.readout;
    for (p, pop) in q.populations.iter_mut().enumerate() {
        let Some(n) = &mut pop.neuron else { continue };
        let double = args.double_v;
        let gain = args.readout_gain2 && p == readout;
        if !(double || gain) {
            continue;
        }
        let t = f64::from(n.threshold.at(0, 0)) * 64.0;
        let keep = (4096.0 - f64::from(n.voltage_decay.at(0, 0))) / 4096.0;
        let leak_v = (1.0 - keep) * t;
        let mut new_bias = Vec::new();
        for (b, e) in n.bias.iter().zip(&n.bias_exp) {
            let mut total = f64::from(*b) * f64::from(*e).exp2();
            if gain {
                total = 2.0 * total - leak_v;
            }
            new_bias.push(total);
        }
        if double {
            for x in &mut new_bias {
                *x *= 2.0;
            }
            n.threshold = n.threshold.map(|t| t * 2);
        }
        let e = n.bias_exp[0];
        let e2 = if double { e + 1 } else { e };
        for ((b, be), x) in n.bias.iter_mut().zip(n.bias_exp.iter_mut()).zip(&new_bias) {
            *be = e2;
            *b = (x / f64::from(e2).exp2()).round() as i32;
        }
    }
    for pr in &mut q.projections {
        if args.double_v {
            pr.weight_exp += 1;
        }
        if args.readout_gain2 && pr.to == readout {
            pr.weight_exp += 1;
        }
    }
    for l in &q.layers {
        println!(
            "{:<14} exp {:>3} rms {:.4} clipped {} zeroed {}",
            l.layer, l.weight_exp, l.rms_relative_error, l.weights_clipped, l.weights_zeroed
        );
    }
    for p in &q.populations {
        if let Some(n) = &p.neuron {
            let b = &n.bias;
            let (bmin, bmax) = (b.iter().min().unwrap_or(&0), b.iter().max().unwrap_or(&0));
            println!(
                "{:<8} threshold {:?} << {}  bias {}..{} << {:?}  dv {:?} du {:?}",
                p.name,
                n.threshold.at(0, 0),
                target.precision.threshold_shift,
                bmin,
                bmax,
                n.bias_exp.first(),
                n.voltage_decay.at(0, 0),
                n.current_decay.at(0, 0)
            );
        }
    }
    let data = lifchip_data::load(
        &DataSource::parse("mnist")?,
        Split::Test,
        Some(args.offset + args.limit),
    )?;
    let vmax = (1i64 << (target.precision.voltage_bits - 1)) - 1;
    let ticks = args.ticks as usize;
    let skip = (args.skip as usize).min(ticks.saturating_sub(1));
    let results = (args.offset..data.n)
        .map(|i| -> Result<ImageResult, lifchip_train::TrainError> {
            let img = one_image(&data, i);
            let float = lifchip_train::firing_rates(&net, &img, RateCurve::Lif)?;
            let soft = lifchip_train::firing_rates(&net, &img, RateCurve::Net)?;
            let input =
                lifchip_data::rate_regular(&data.pixels_f32(i), args.input_rate as f32, args.ticks);
            let run = run_reference(&q, &target, &input, ticks, true);
            let mut late = vec![0u32; q.populations[q.readout].size()];
            for tick in &run.spikes[q.readout][ticks / 2..] {
                for &(n, k) in tick {
                    late[n as usize] += k;
                }
            }
            let lmax = *late.iter().max().unwrap_or(&0);
            let late_pred = late.iter().position(|&c| c == lmax);
            let umax = run
                .u
                .iter()
                .flatten()
                .flatten()
                .fold(0i64, |m, &x| m.max(x.abs()));
            let mut pops = vec![PopStats::default(); q.populations.len()];
            for (p, pop) in q.populations.iter().enumerate() {
                let Some(neuron) = &pop.neuron else { continue };
                let size = pop.size();
                let mut counts = vec![0u32; size];
                for tick in &run.spikes[p][skip..] {
                    for &(n, k) in tick {
                        counts[n as usize] += k;
                    }
                }
                let s = &mut pops[p];
                for (n, &c) in counts.iter().enumerate() {
                    let chip = f64::from(c) * 1000.0 / (ticks - skip) as f64;
                    let fl = f64::from(float[p].rates[n]);
                    s.float_sum += fl;
                    s.chip_sum += chip;
                    s.fc += fl * chip;
                    s.ff += fl * fl;
                    s.cc += chip * chip;
                    s.abs_err += (fl - chip).abs();
                    s.n += 1.0;
                    if fl == 0.0 && c > 0 {
                        s.float_silent_chip_active += 1;
                    }
                    if fl > 20.0 && c == 0 {
                        s.float_active_chip_silent += 1;
                    }
                }
                for vt in &run.v[p] {
                    for (n, &v) in vt.iter().enumerate() {
                        s.neuron_ticks += 1;
                        if v >= vmax {
                            s.sat_pos += 1;
                        }
                        if v <= -vmax {
                            s.sat_neg += 1;
                        }
                        if v < 0 {
                            s.neg_ticks += 1;
                        }
                        let vth = (i64::from(neuron.threshold.at(n, 0))
                            << target.precision.threshold_shift)
                            as f64;
                        s.max_v_over_vth = s.max_v_over_vth.max(v as f64 / vth);
                    }
                }
            }
            let out = run.counts(q.readout, q.populations[q.readout].size());
            let max = *out.iter().max().unwrap_or(&0);
            let chip_pred = out.iter().position(|&c| c == max);
            let tie = out.iter().filter(|&&c| c == max).count() > 1;
            let mut sorted = out.clone();
            sorted.sort_unstable();
            let margin = i64::from(max) - i64::from(sorted[sorted.len() - 2]);
            let fo = &soft[q.readout].rates;
            let float_pred = (0..fo.len())
                .max_by(|&a, &b| fo[a].total_cmp(&fo[b]).then(b.cmp(&a)))
                .unwrap_or(0);
            Ok(ImageResult {
                pops,
                label: usize::from(data.labels[i]),
                float_pred,
                chip_pred,
                tie,
                margin,
                late_pred,
                umax,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut total = vec![PopStats::default(); q.populations.len()];
    let (mut fc, mut cc, mut ties, mut tie_wrong, mut both_wrong, mut small_margin) =
        (0, 0, 0, 0, 0, 0);
    for r in &results {
        for (t, s) in total.iter_mut().zip(&r.pops) {
            t.add(s);
        }
        let chip_ok = r.chip_pred == Some(r.label);
        fc += usize::from(r.float_pred == r.label);
        cc += usize::from(chip_ok);
        ties += usize::from(r.tie);
        tie_wrong += usize::from(r.tie && !chip_ok);
        both_wrong += usize::from(!chip_ok && r.float_pred != r.label);
        small_margin += usize::from(r.margin <= 1);
    }
    let n = results.len();
    let late_ok = results
        .iter()
        .filter(|r| r.late_pred == Some(r.label))
        .count();
    let umax = results.iter().map(|r| r.umax).max().unwrap_or(0);
    println!(
        "chip correct counting the second half only: {late_ok}; max |u| {umax} (2^23 = {})",
        1i64 << 23
    );
    println!(
        "{n} images, {ticks} ticks: float rate {fc} correct, chip {cc}; chip ties {ties} ({tie_wrong} wrong), margin <= 1: {small_margin}; wrong on both: {both_wrong}"
    );
    println!(
        "{:<8} {:>9} {:>9} {:>7} {:>6} {:>9} {:>11} {:>11} {:>7} {:>8} {:>9} {:>9}",
        "pop",
        "float Hz",
        "chip Hz",
        "gain",
        "corr",
        "mae Hz",
        "sat+",
        "sat-",
        "v<0 %",
        "max v/V",
        "f0 c>0",
        "f>20 c0"
    );
    for (p, s) in total.iter().enumerate() {
        if s.n == 0.0 {
            continue;
        }
        let cov = s.fc / s.n - (s.float_sum / s.n) * (s.chip_sum / s.n);
        let vf = s.ff / s.n - (s.float_sum / s.n).powi(2);
        let vc = s.cc / s.n - (s.chip_sum / s.n).powi(2);
        println!(
            "{:<8} {:>9.2} {:>9.2} {:>7.3} {:>6.3} {:>9.2} {:>11} {:>11} {:>7.2} {:>8.2} {:>9} {:>9}",
            q.populations[p].name,
            s.float_sum / s.n,
            s.chip_sum / s.n,
            s.fc / s.ff.max(1e-12),
            cov / (vf * vc).sqrt().max(1e-12),
            s.abs_err / s.n,
            s.sat_pos,
            s.sat_neg,
            100.0 * s.neg_ticks as f64 / s.neuron_ticks.max(1) as f64,
            s.max_v_over_vth,
            s.float_silent_chip_active,
            s.float_active_chip_silent
        );
    }
    Ok(())
}
