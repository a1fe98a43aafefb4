//! What a sweep's points share, each prepared once and cached in the output directory: the
//! data (pooled when asked), the net (loaded, or trained into `net.net`), the float reference
//! (`reference.json`) and the fine-tuned nets of `qat:` (`qat/KEY.net`).

use std::{collections::BTreeMap, path::Path};

use lifchip_data::{DataSource, Dataset, Split};
use lifchip_net::Net;

use crate::{
    cache::{self, QatStamp, Reference, TrainedNet},
    error::{AtSpec, StudyError, StudyResult},
    observe::Observer,
    plan::{Plan, weight_format},
    pooled::pooled_folder,
    spec::SpecFile,
    write::{QatNetSummary, write_json},
};

/// The net of the sweep: loaded, or trained once into `DIR/net.net` (and reused while its
/// config and `downsample` are unchanged). Returns the net, its fingerprint, a description of
/// where it came from, and the training time when it was trained now.
pub fn obtain_net(
    file: &SpecFile,
    out: &Path,
    observer: &dyn Observer,
) -> StudyResult<(Net, String, String, Option<f64>)> {
    let spec = &file.spec;
    if let Some(net_path) = &spec.net {
        let path = file.relative(net_path);
        let net = lifchip_net::load(&path).map_err(|e| e.into_spec(file.at(&["net"]), "net: "))?;
        let fingerprint = format!("{:016x}", net.fingerprint());
        return Ok((net, fingerprint, format!("`{}`", path.display()), None));
    }
    let Some(config_path) = &spec.train else {
        return Err(StudyError::Spec {
            at: file.file(),
            message: "missing `net:` or `train:`".into(),
        });
    };
    let config_path = file.relative(config_path);
    let mut config = lifchip_train::TrainConfig::load(&config_path)
        .map_err(|e| e.into_spec(file.at(&["train"]), "train: "))?;
    let fingerprint = cache::key(&[
        "lifchip-sweep-train-1",
        &config.to_yaml_string(),
        &spec.downsample.to_string(),
    ]);
    let net_dir = out.join("net.net");
    let stamp_path = out.join("net.json");
    let source = format!("trained from `{}` into `net.net`", config_path.display());
    let stamp: Option<TrainedNet> = cache::read(&stamp_path);
    if stamp.is_some_and(|s| s.fingerprint == fingerprint)
        && let Ok(net) = lifchip_net::load(&net_dir)
    {
        observer.note(&format!(
            "reusing {} (trained from {})",
            net_dir.display(),
            config_path.display()
        ));
        return Ok((net, fingerprint, source, None));
    }
    if spec.downsample > 1 {
        let data_source = DataSource::parse(&config.data)?;
        let folder = pooled_folder(
            &data_source,
            &config.data,
            spec.downsample,
            &out.join("data"),
        )?;
        let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
        config.data = folder.to_string_lossy().into_owned();
    }
    observer.note(&format!(
        "training {} from {}",
        config.name,
        config_path.display()
    ));
    let options = lifchip_train::TrainOptions {
        log_csv: Some(out.join("train-log.csv")),
        ..lifchip_train::TrainOptions::default()
    };
    let (net, report) = lifchip_train::train(&config, &mut |p| observer.training(p), &options)?;
    lifchip_net::save(&net, &net_dir)?;
    write_json(&out.join("train-report.json"), &report)?;
    write_json(
        &stamp_path,
        &TrainedNet {
            fingerprint: fingerprint.clone(),
            config: config_path.display().to_string(),
            seconds: report.seconds,
            rate_test_accuracy: report.test_accuracy,
        },
    )?;
    Ok((net, fingerprint, source, Some(report.seconds)))
}

/// The data to emulate (pooled when asked), a description of it, and the data source (as
/// `lifchip train --data` takes it) whose training split QAT fine-tunes on.
pub fn obtain_data(file: &SpecFile, out: &Path) -> StudyResult<(Dataset, String, String)> {
    let spec = &file.spec;
    let split: Split = spec
        .split
        .parse()
        .map_err(|e: lifchip_data::DataError| e.into_spec(file.at(&["split"]), "split: "))?;
    let mut name = spec.data.clone();
    let mut source =
        DataSource::parse(&spec.data).map_err(|e| e.into_spec(file.at(&["data"]), "data: "))?;
    if let DataSource::Dir(d) = &source {
        let near = file.relative(d);
        if near.is_dir() {
            source = DataSource::Dir(near);
        }
    }
    if spec.downsample > 1 {
        let folder = pooled_folder(&source, &spec.data, spec.downsample, &out.join("data"))
            .map_err(|e| e.into_spec(file.at(&["downsample"]), ""))?;
        name = folder.display().to_string();
        source = DataSource::Dir(folder);
    }
    let train_data = match &source {
        DataSource::Dir(d) => std::fs::canonicalize(d)
            .unwrap_or_else(|_| d.clone())
            .to_string_lossy()
            .into_owned(),
        _ => spec.data.clone(),
    };
    let data = lifchip_data::load(&source, split, Some(spec.samples))
        .map_err(|e| e.into_spec(file.at(&["data"]), "data: "))?;
    if data.n == 0 {
        return Err(file.error(
            &["data"],
            format!("data: the {split} split holds no images"),
        ));
    }
    Ok((data, name, train_data))
}

/// QAT key → the fine-tuned net, or why there is none.
pub type QatNets = BTreeMap<String, Result<Net, String>>;

/// Fine-tunes (or reuses from `OUT/qat/`) one net per distinct QAT key of the plans, in plan
/// order, each on the shared pool. A net that cannot be trained records why; the sweep goes on.
pub fn prepare_qat(
    plans: &[Plan],
    net: &Net,
    out: &Path,
    pool: &rayon::ThreadPool,
    observer: &dyn Observer,
) -> StudyResult<(QatNets, Vec<QatNetSummary>)> {
    let mut nets = BTreeMap::new();
    let mut summaries = Vec::new();
    let mut todo: Vec<&(String, lifchip_train::QatConfig)> = Vec::new();
    for plan in plans {
        if let Some(q) = &plan.qat
            && !todo.iter().any(|t| t.0 == q.0)
        {
            todo.push(q);
        }
    }
    if todo.is_empty() {
        return Ok((nets, summaries));
    }
    let dir = out.join("qat");
    std::fs::create_dir_all(&dir).map_err(|source| StudyError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut train_set: Option<Result<Dataset, String>> = None;
    for (k, (key, qat)) in todo.iter().enumerate() {
        let net_path = dir.join(format!("{key}.net"));
        let stamp_path = dir.join(format!("{key}.json"));
        let format = weight_format(qat);
        let stamp = cache::read::<QatStamp>(&stamp_path).filter(|s| s.key == *key);
        if let (Some(_), Ok(n)) = (&stamp, lifchip_net::load(&net_path)) {
            observer.note(&format!("reusing qat/{key}.net ({format})"));
            nets.insert(key.clone(), Ok(n));
            summaries.push(QatNetSummary {
                net: format!("qat/{key}.net"),
                weight_format: format,
                seconds: None,
                error: None,
            });
            continue;
        }
        let data = train_set.get_or_insert_with(|| {
            let source = DataSource::parse(&qat.data).map_err(|e| e.to_string())?;
            lifchip_data::load(&source, Split::Train, qat.train_limit)
                .map_err(|e| format!("training data {}: {e}", qat.data))
        });
        observer.note(&format!(
            "QAT {}/{}: fine-tuning {} for {format}, {} epochs",
            k + 1,
            todo.len(),
            net.name,
            qat.epochs
        ));
        let trained = match data {
            Ok(d) => pool
                .install(|| {
                    lifchip_train::fine_tune_on(
                        net,
                        qat,
                        d,
                        None,
                        &mut |p| observer.training(p),
                        &lifchip_train::TrainOptions::default(),
                    )
                })
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        };
        let summary = match trained {
            Ok((tuned, report)) => {
                lifchip_net::save(&tuned, &net_path)?;
                write_json(
                    &stamp_path,
                    &QatStamp {
                        key: key.clone(),
                        weight_format: format.clone(),
                        seconds: report.seconds,
                        epochs: report.epochs.len(),
                        train_images: report.train_images,
                    },
                )?;
                nets.insert(key.clone(), Ok(tuned));
                QatNetSummary {
                    net: format!("qat/{key}.net"),
                    weight_format: format,
                    seconds: Some(report.seconds),
                    error: None,
                }
            }
            Err(e) => {
                observer.note(&format!("QAT for {format} failed: {e}"));
                nets.insert(key.clone(), Err(e.clone()));
                QatNetSummary {
                    net: String::new(),
                    weight_format: format,
                    seconds: None,
                    error: Some(e),
                }
            }
        };
        summaries.push(summary);
    }
    Ok((nets, summaries))
}

/// The float net's rate and spiking accuracy and predictions on the emulated images, reused from
/// `reference.json` while `key` matches.
pub fn float_reference(
    file: &SpecFile,
    net: &Net,
    data: &Dataset,
    key: &str,
    out: &Path,
    observer: &dyn Observer,
) -> StudyResult<Reference> {
    if !file.spec.float_reference {
        return Ok(Reference::default());
    }
    let path = out.join("reference.json");
    if let Some(r) = cache::read::<Reference>(&path).filter(|r| r.key == key) {
        return Ok(r);
    }
    observer.note("float reference: evaluating the net as rates and as spiking LIF neurons");
    let mut reference = Reference {
        key: key.to_string(),
        ..Reference::default()
    };
    match lifchip_train::eval_rate(net, data) {
        Ok(e) => reference.rate_accuracy = Some(e.accuracy),
        Err(e) => reference.note = Some(format!("float rate evaluation: {e}")),
    }
    match lifchip_train::eval_spiking(net, data, &lifchip_train::SpikingConfig::default()) {
        Ok(e) => {
            reference.spiking_accuracy = Some(e.accuracy);
            reference.spiking_predictions = e.predictions;
        }
        Err(e) => reference.note = Some(format!("float spiking evaluation: {e}")),
    }
    write_json(&path, &reference)?;
    Ok(reference)
}
