//! The `ebm` binary: see `ebm --help` and the crate docs of `ebm_cli`.
// The clap help texts are doc comments and use `[...]` for optional parts.
#![allow(rustdoc::broken_intra_doc_links)]

use clap::{Parser, Subcommand};
use ebm_cli::backend::Backend;
use ebm_cli::config::TrainSettings;
use ebm_cli::error::{CliError, EXIT_USAGE};
use ebm_cli::sample::{SamplerKind, SamplerOpts};
use ebm_cli::train::{Overrides, Request};
use std::path::PathBuf;

/// Train, sample and evaluate energy-based models p(x) = exp(−E(x))/Z.
///
/// Exit codes: 0 success; 1 runtime error (a bad file, value or model
/// string, an unwritable output, a size beyond the memory, a GPU failure);
/// 2 a training run that diverged (non-finite, or a loss or parameter past
/// its bound), the last good checkpoint kept; 64 usage error (the command
/// line does not parse); 130 interrupted by Ctrl-C after a final checkpoint.
#[derive(Parser, Debug)]
#[command(name = "ebm", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model; writes model.safetensors, config.toml, metrics.json
    /// (and density.png, samples.png for 2-D data) to --out.
    Train(TrainArgs),
    /// Draw samples from a trained model.
    Sample(SampleArgs),
    /// Energies, scores and Hessian diagonals at given points (and metrics).
    Eval(EvalArgs),
    /// List GPU adapters and print a quick throughput table.
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct TrainArgs {
    /// Built-in data set (8gaussians, 2spirals, checkerboard, circles, moons,
    /// pinwheel, rings, swissroll, gmm-2d; redwine: 11-D, standardised) or a
    /// .npy / .csv file [default: moons].
    #[arg(long)]
    data: Option<String>,
    /// gaussian | gmm:K[:full|diag] | mlp:H,H,...[:act] | ica[:K[:source]] | rbm:H | formula:FILE
    /// [default: mlp:64,64,64:softplus].
    #[arg(long)]
    model: Option<String>,
    /// cd | pcd | icd | esm | dsm | ssm | ssm-vr | nce | lsd [default: dsm].
    #[arg(long)]
    estimator: Option<String>,
    /// Total updates of the run [default: 10000].
    #[arg(long)]
    steps: Option<usize>,
    /// Mini-batch size [default: 256].
    #[arg(long)]
    batch: Option<usize>,
    /// Learning rate (Adam; cosine-decayed to 1/100 of it over the run) [default: 3e-3].
    #[arg(long)]
    lr: Option<f64>,
    /// Run seed (data, initialisation, batches, noise) [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Where the model runs [default: cpu].
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Samples drawn from a built-in data set [default: 4096].
    #[arg(long)]
    n_data: Option<usize>,
    /// Write the checkpoint every this many steps [default: 100].
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Held-out evaluation every this many steps (0: only at the end) [default: 100].
    #[arg(long)]
    eval_every: Option<usize>,
    /// Colour density.png by log10(p / max p) over four decades (shows weak
    /// modes a linear scale hides) [default: linear p / max p].
    #[arg(long)]
    plot_log: bool,
    /// Train on the raw data instead of standardised z = (x − mean)/std
    /// (metrics and plots are in data units either way).
    #[arg(long)]
    no_standardize: bool,
    /// Output directory. One that holds a run is refused unless --force.
    #[arg(long, required_unless_present_any = ["resume", "print_config"])]
    out: Option<PathBuf>,
    /// Start a new run in an --out that holds one, replacing its files.
    #[arg(long, requires = "out")]
    force: bool,
    /// Settings from a TOML file (flags override it). Every setting,
    /// including those without a flag (optimizer, clipping, sampler step
    /// sizes, estimator options), is a key: see --print-config.
    #[arg(long, conflicts_with = "resume")]
    config: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, bit for
    /// bit (needs the directory's state.safetensors).
    #[arg(long, conflicts_with = "out")]
    resume: Option<PathBuf>,
    /// With --resume: if state.safetensors is missing or does not match,
    /// warn and continue with fresh optimizer and estimator state instead
    /// of failing (a statistically equivalent, not bit-for-bit, run).
    #[arg(long, requires = "resume")]
    inexact_resume: bool,
    /// No progress bar or progress lines.
    #[arg(long, short)]
    quiet: bool,
    /// Train data-parallel on the ranks of an MPI job (`mpirun -np N ebm
    /// train … --distributed`; needs an ebm built with `--features mpi`):
    /// rank r computes its share of every batch, rank 0 writes the run.
    #[arg(long)]
    distributed: bool,
    /// With --distributed: abort the job when a step's exchange between the
    /// ranks has not completed after this many seconds (a hung rank).
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    collective_timeout: f64,
    /// Print the resolved settings as TOML (a starting --config file) and exit.
    #[arg(long)]
    print_config: bool,
}

#[derive(clap::Args, Debug)]
struct SampleArgs {
    /// The checkpoint: a run directory or a .safetensors file.
    #[arg(long)]
    model: PathBuf,
    /// Number of samples (independent chains).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// The sampler.
    #[arg(long, value_enum, default_value = "ula")]
    sampler: SamplerKind,
    /// Transitions per chain (HMC: iterations; annealed: total steps).
    #[arg(long, default_value_t = 500)]
    steps: usize,
    /// Step size (default: 0.1 × the data scale; 0.2 × for HMC).
    #[arg(long)]
    eps: Option<f64>,
    /// Leapfrog steps per HMC iteration.
    #[arg(long, default_value_t = 10)]
    leapfrog: usize,
    /// Levels of the annealed schedule.
    #[arg(long, default_value_t = 5)]
    levels: usize,
    /// Ratio of the first to the last annealed step size.
    #[arg(long, default_value_t = 5.0)]
    anneal_ratio: f64,
    /// Scale of the initial chains relative to the data's spread.
    #[arg(long, default_value_t = 1.0)]
    init_scale: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// Output file (.npy or .csv).
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct EvalArgs {
    /// The checkpoint: a run directory or a .safetensors file.
    #[arg(long)]
    model: PathBuf,
    /// The points: a .npy or .csv file (n × d), or a built-in data set
    /// (4096 points drawn with --seed).
    #[arg(long)]
    input: String,
    /// Output directory (energy.npy, score.npy, hess_diag.npy, metrics.json);
    /// not a training run's directory, whose files it would replace.
    #[arg(long)]
    out: PathBuf,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    backend: Backend,
    /// Also compute exact NLL (d ≤ 2), AIS log Z, KSD and MMD.
    #[arg(long)]
    metrics: bool,
    /// Data for the metrics (built-in name or file; default: --input).
    #[arg(long)]
    data: Option<String>,
    /// Seed of AIS and of the MMD samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Batch size.
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    /// Skip the GPU even when an adapter is found.
    #[arg(long)]
    cpu_only: bool,
    /// Time spent measuring each row, in milliseconds.
    #[arg(long, default_value_t = 300)]
    time_ms: u64,
}

fn train(a: TrainArgs) -> Result<(), CliError> {
    let over = Overrides {
        data: a.data,
        model: a.model,
        estimator: a.estimator,
        steps: a.steps,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        backend: a.backend,
        n_data: a.n_data,
        checkpoint_every: a.checkpoint_every,
        eval_every: a.eval_every,
        plot_log: a.plot_log,
        no_standardize: a.no_standardize,
    };
    let (base, out, resume) = match (&a.resume, &a.config) {
        (Some(dir), _) => (TrainSettings::from_run_file(&dir.join("config.toml"))?, dir.clone(), true),
        (None, Some(c)) => (TrainSettings::from_file(c)?, a.out.clone().unwrap_or_default(), false),
        (None, None) => (TrainSettings::default(), a.out.clone().unwrap_or_default(), false),
    };
    let settings = ebm_cli::train::resolve(base, &over, resume)?;
    if a.print_config {
        print!("{}", settings.to_toml());
        return Ok(());
    }
    if let Err(e) = ebm_cli::interrupt::install() {
        eprintln!("warning: Ctrl-C will not stop the run gracefully: {e}");
    }
    let comm = ebm_cli::dist::communicator(a.distributed, a.collective_timeout)?;
    let req = Request { settings, out, resume, inexact_resume: a.inexact_resume, force: a.force, quiet: a.quiet };
    ebm_cli::train::run_on(req, &*comm)?;
    Ok(())
}

fn main() {
    ebm_cli::runtime_dir::ensure();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Sample(a) => {
            let opts = SamplerOpts {
                kind: a.sampler,
                steps: a.steps,
                eps: a.eps,
                leapfrog: a.leapfrog,
                levels: a.levels,
                anneal_ratio: a.anneal_ratio,
            };
            ebm_cli::sample::command(&a.model, a.n, &opts, &a.out, a.seed, a.init_scale, a.backend)
        }
        Command::Eval(a) => ebm_cli::eval::run(&ebm_cli::eval::EvalArgs {
            model: &a.model,
            input: &a.input,
            out: &a.out,
            backend: a.backend,
            metrics: a.metrics,
            data: a.data.as_deref(),
            seed: a.seed,
        })
        .map(|_| ()),
        Command::Bench(a) => ebm_cli::bench::run(a.batch, a.cpu_only, std::time::Duration::from_millis(a.time_ms)),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
