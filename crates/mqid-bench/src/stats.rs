//! Timing helpers: interleaved sampling of several workloads, and latency percentiles.

use std::time::{Duration, Instant};

/// One workload of an interleaved measurement: `run(iters)` performs `iters` operations.
pub struct Job<'a> {
    pub name: String,
    pub run: Box<dyn FnMut(u64) + 'a>,
}

impl<'a> Job<'a> {
    pub fn new(name: impl Into<String>, run: impl FnMut(u64) + 'a) -> Self {
        Job {
            name: name.into(),
            run: Box::new(run),
        }
    }
}

/// What sampling one job gave.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sampled {
    pub name: String,
    /// Median over samples of (sample time / operations in the sample).
    pub ns_per_op: f64,
    /// The fastest sample.
    pub min_ns_per_op: f64,
    pub samples: usize,
    pub ops: u64,
}

/// Calibrates `jobs` for [`interleaved`] sampling, after a short warm-up of each: the operations
/// per sample of about `sample`, per job, and how many rounds fill about `per_job` (at least 3).
pub fn calibrate(jobs: &mut [Job<'_>], per_job: Duration, sample: Duration) -> (Vec<u64>, usize) {
    let mut batch = Vec::with_capacity(jobs.len());
    for job in jobs.iter_mut() {
        (job.run)(1000);
        let mut iters = 1000u64;
        let per_op = loop {
            let t = Instant::now();
            (job.run)(iters);
            let dt = t.elapsed();
            if dt >= Duration::from_millis(2) || iters >= 1 << 30 {
                break dt.as_secs_f64() / iters as f64;
            }
            iters *= 4;
        };
        batch.push(((sample.as_secs_f64() / per_op) as u64).max(1));
    }
    let rounds = ((per_job.as_secs_f64() / sample.as_secs_f64()).round() as usize).max(3);
    (batch, rounds)
}

/// Measures every job for about `per_job` in samples of about `sample`, round-robin: sample 1
/// of every job, then sample 2 of every job, and so on. Load from elsewhere on a shared machine
/// then falls on all jobs alike, so ratios between jobs stay meaningful.
pub fn interleaved(jobs: &mut [Job<'_>], per_job: Duration, sample: Duration) -> Vec<Sampled> {
    let (batch, rounds) = calibrate(jobs, per_job, sample);
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); jobs.len()];
    for _ in 0..rounds {
        for (j, job) in jobs.iter_mut().enumerate() {
            let t = Instant::now();
            (job.run)(batch[j]);
            times[j].push(t.elapsed().as_nanos() as f64 / batch[j] as f64);
        }
    }
    jobs.iter()
        .zip(times)
        .zip(batch)
        .map(|((job, mut t), b)| {
            t.sort_by(f64::total_cmp);
            Sampled {
                name: job.name.clone(),
                ns_per_op: median(&t),
                min_ns_per_op: t[0],
                samples: t.len(),
                ops: b * t.len() as u64,
            }
        })
        .collect()
}

/// Median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The `p`-th percentile (0..=100, nearest rank) of sorted values.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A latency histogram in nanoseconds that records without allocating: exact buckets up to
/// [`Histogram::EXACT_NS`], and a preallocated list for the rare slower ones.
#[derive(Clone)]
pub struct Histogram {
    exact: Vec<u32>,
    over: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub const EXACT_NS: usize = 200_000;

    pub fn new() -> Self {
        Histogram {
            exact: vec![0; Self::EXACT_NS],
            over: Vec::with_capacity(1 << 16),
            count: 0,
            max: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.count += 1;
        self.max = self.max.max(ns);
        match self.exact.get_mut(ns as usize) {
            Some(slot) => *slot = slot.saturating_add(1),
            None => {
                if self.over.len() < self.over.capacity() {
                    self.over.push(ns)
                }
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds the samples of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.exact.iter_mut().zip(&other.exact) {
            *a = a.saturating_add(*b);
        }
        self.over.extend_from_slice(&other.over);
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The `p`-th percentile (0..=100, nearest rank), in nanoseconds.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = (((p / 100.0) * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (ns, &n) in self.exact.iter().enumerate() {
            seen += n as u64;
            if seen >= rank {
                return ns as u64;
            }
        }
        let mut over = self.over.clone();
        over.sort_unstable();
        let i = (rank - seen) as usize;
        over.get(i.saturating_sub(1)).copied().unwrap_or(self.max)
    }
}

/// p50/p99/max of a latency distribution, for reports.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram in ns, reported in ns.
    pub fn of_histogram(h: &Histogram) -> Self {
        Latency {
            count: h.count(),
            p50: h.percentile(50.0) as f64,
            p99: h.percentile(99.0) as f64,
            max: h.max() as f64,
        }
    }

    /// From unsorted samples, in their unit.
    pub fn of_samples(v: &mut [f64]) -> Self {
        v.sort_by(f64::total_cmp);
        Latency {
            count: v.len() as u64,
            p50: percentile(v, 50.0),
            p99: percentile(v, 99.0),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}
