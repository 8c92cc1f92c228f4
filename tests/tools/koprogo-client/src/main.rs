//! Test probe: an S3 client configured the way KoproGo's backend configures its own
//! (backend/src/infrastructure/storage/s3_storage.rs, read from its source; this code is ours).
//!
//! It reads the env file the `backend_env` role wrote, builds the client with the same SDK
//! versions and settings (BehaviorVersion::latest, static credentials, region, endpoint_url,
//! force_path_style, the SDK's default request checksums), builds keys like the backend
//! (`[<prefix>/]<building>/<uuid>_<sanitised name>`) and does what the backend does with a
//! document: HeadBucket at start, PutObject of the whole body, GetObject, HeadObject (exists),
//! DeleteObject. It also lists the building's prefix (ListObjectsV2), which the backend does not
//! do but an operator does. It prints one JSON report on stdout; the caller asserts on it.
//!
//! Only the transport differs from the backend's default client: the test's self-signed CA is
//! trusted and chosen host names resolve to given addresses (never an /etc/hosts edit).
//!
//! Usage: koprogo-client --env-file FILE [--endpoint URL] [--ca-file PEM] [--resolve HOST=IP]...
//!                       [--building UUID] --file SIZE:NAME...

use std::collections::HashMap;
use std::error::Error;
use std::net::IpAddr;
use std::process::ExitCode;

use aws_config::meta::region::RegionProviderChain;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Builder as S3ConfigBuilder, Region};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpClientBuilder, ConnectorBuilder};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

struct Args {
    env_file: String,
    endpoint: Option<String>,
    ca_file: Option<String>,
    resolve: HashMap<String, IpAddr>,
    building: Uuid,
    files: Vec<(usize, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        env_file: String::new(),
        endpoint: None,
        ca_file: None,
        resolve: HashMap::new(),
        building: Uuid::new_v4(),
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--env-file" => args.env_file = value()?,
            "--endpoint" => args.endpoint = Some(value()?),
            "--ca-file" => args.ca_file = Some(value()?),
            "--resolve" => {
                let v = value()?;
                let (host, ip) = v.split_once('=').ok_or("--resolve wants HOST=IP")?;
                let ip: IpAddr = ip.parse().map_err(|e| format!("--resolve {v}: {e}"))?;
                args.resolve.insert(host.to_string(), ip);
            }
            "--building" => {
                args.building = value()?.parse().map_err(|e| format!("--building: {e}"))?
            }
            "--file" => {
                let v = value()?;
                let (size, name) = v.split_once(':').ok_or("--file wants SIZE:NAME")?;
                let size = size.parse().map_err(|e| format!("--file {v}: {e}"))?;
                args.files.push((size, name.to_string()));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.env_file.is_empty() {
        return Err("--env-file is required".into());
    }
    Ok(args)
}

/// The backend's S3StorageConfig::from_env, reading the env file instead of the process
/// environment: same names, same Option semantics (a present but empty S3_KEY_PREFIX is
/// Some(""), exactly as `env::var(..).ok()` gives it), same bool parsing.
struct BackendConfig {
    bucket: String,
    region: Option<String>,
    endpoint: Option<String>,
    access_key: String,
    secret_key: String,
    force_path_style: bool,
    key_prefix: Option<String>,
    provider: String,
}

fn backend_config(path: &str) -> Result<BackendConfig, String> {
    let mut env = HashMap::new();
    // dotenvy is what the backend itself uses to read a .env file.
    for item in dotenvy::from_path_iter(path).map_err(|e| format!("{path}: {e}"))? {
        let (k, v) = item.map_err(|e| format!("{path}: {e}"))?;
        env.insert(k, v);
    }
    let required = |name: &str| {
        env.get(name)
            .cloned()
            .ok_or_else(|| format!("{name} is required when using s3 storage"))
    };
    Ok(BackendConfig {
        bucket: required("S3_BUCKET")?,
        access_key: required("S3_ACCESS_KEY")?,
        secret_key: required("S3_SECRET_KEY")?,
        region: env.get("S3_REGION").cloned(),
        endpoint: env.get("S3_ENDPOINT").cloned(),
        key_prefix: env.get("S3_KEY_PREFIX").cloned(),
        force_path_style: env
            .get("S3_FORCE_PATH_STYLE")
            .cloned()
            .unwrap_or_else(|| "true".into())
            .parse::<bool>()
            .unwrap_or(true),
        provider: env
            .get("STORAGE_PROVIDER")
            .cloned()
            .unwrap_or_else(|| "local".into())
            .to_lowercase(),
    })
}

/// Fixed answers for the test host names; anything else goes to the system resolver.
#[derive(Debug, Clone)]
struct StaticResolver(HashMap<String, IpAddr>);

impl ResolveDns for StaticResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        if let Some(ip) = self.0.get(name) {
            return DnsFuture::ready(Ok(vec![*ip]));
        }
        DnsFuture::new(async move {
            let addrs = tokio::net::lookup_host((name, 0))
                .await
                .map_err(ResolveDnsError::new)?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The SDK's default HTTPS client (hyper 1 + rustls with aws-lc), plus the test CA and resolver.
/// Proxies are off: every request of a test stays on the loopback.
fn http_client(ca_pem: Option<Vec<u8>>, resolver: StaticResolver) -> SharedHttpClient {
    let mut trust = TrustStore::default();
    if let Some(pem) = ca_pem {
        trust = trust.with_pem_certificate(pem);
    }
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("valid TLS context");
    HttpClientBuilder::new().build_with_connector_fn(move |settings, components| {
        let mut conn = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(tls_context.clone());
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::disabled()));
        conn.build_with_resolver(resolver.clone())
    })
}

/// Same as the backend's S3Storage::from_config, with our HTTP client.
async fn backend_client(cfg: &BackendConfig, http: SharedHttpClient) -> Client {
    let region_provider = match &cfg.region {
        Some(region) => RegionProviderChain::first_try(Region::new(region.clone())),
        None => RegionProviderChain::default_provider(),
    };
    let credentials = SharedCredentialsProvider::new(Credentials::new(
        cfg.access_key.clone(),
        cfg.secret_key.clone(),
        None,
        None,
        "koprogo-storage",
    ));
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(region_provider)
        .credentials_provider(credentials)
        .http_client(http)
        .load()
        .await;
    let mut builder = S3ConfigBuilder::from(&shared);
    if let Some(region) = &cfg.region {
        builder = builder.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &cfg.endpoint {
        builder = builder.endpoint_url(endpoint.clone());
    }
    if cfg.force_path_style {
        builder = builder.force_path_style(true);
    }
    Client::from_conf(builder.build())
}

/// The backend's S3Storage::build_key and sanitize_filename.
fn build_key(prefix: Option<&str>, building: Uuid, original_name: &str) -> String {
    let sanitized = original_name.replace("..", "_").replace(['/', '\\'], "_");
    let key = format!("{}/{}_{}", building, Uuid::new_v4(), sanitized);
    match prefix {
        Some(prefix) => format!("{}/{}", prefix.trim_end_matches('/'), key),
        None => key,
    }
}

/// The error and its sources, as the backend's describe_error shows them.
fn describe<E: Error>(err: &E) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.contains(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(" <- ")
}

/// Incompressible, reproducible bytes (xorshift64*), so a proxy cannot shrink them.
fn body(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(size);
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HeadObject as the backend's file_exists: Ok = true, NotFound = false; other errors are
/// reported too (the backend folds them into false, which would hide a route problem).
async fn exists(client: &Client, bucket: &str, key: &str) -> Value {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => json!({"exists": true}),
        Err(SdkError::ServiceError(e)) if e.err().is_not_found() => json!({"exists": false}),
        Err(e) => json!({"exists": false, "error": describe(&e)}),
    }
}

async fn list_prefix(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe(&e))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
    }
    Ok(keys)
}

async fn one_document(
    client: &Client,
    cfg: &BackendConfig,
    building: Uuid,
    size: usize,
    name: &str,
    seed: u64,
) -> Value {
    let key = build_key(cfg.key_prefix.as_deref(), building, name);
    let content = body(size, seed);
    let digest = sha256_hex(&content);
    let mut report = json!({"name": name, "size": size, "key": key, "sha256": digest});

    // save_file: one PutObject of the whole body (no multipart), like the backend.
    let put = client
        .put_object()
        .bucket(&cfg.bucket)
        .key(&key)
        .body(ByteStream::from(content))
        .send()
        .await;
    report["put"] = match put {
        Ok(_) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": describe(&e)}),
    };

    // read_file: GetObject and collect the body.
    report["get"] = match client.get_object().bucket(&cfg.bucket).key(&key).send().await {
        Ok(out) => match out.body.collect().await {
            Ok(data) => {
                let data = data.into_bytes();
                json!({"ok": true, "size": data.len(), "sha256": sha256_hex(&data)})
            }
            Err(e) => json!({"ok": false, "error": describe(&e)}),
        },
        Err(e) => json!({"ok": false, "error": describe(&e)}),
    };

    report["head"] = exists(client, &cfg.bucket, &key).await;

    // The building's "folder": everything up to and including the building id.
    let folder = &key[..key.rfind('/').map_or(0, |i| i + 1)];
    report["list"] = match list_prefix(client, &cfg.bucket, folder).await {
        Ok(keys) => json!({"ok": true, "prefix": folder, "found": keys.contains(&key)}),
        Err(e) => json!({"ok": false, "prefix": folder, "error": e}),
    };

    // delete_file, then file_exists must say false.
    report["delete"] = match client
        .delete_object()
        .bucket(&cfg.bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(_) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": describe(&e)}),
    };
    report["head_after_delete"] = exists(client, &cfg.bucket, &key).await;
    report
}

async fn run(args: Args) -> Result<Value, String> {
    let mut cfg = backend_config(&args.env_file)?;
    if let Some(endpoint) = args.endpoint {
        cfg.endpoint = Some(endpoint);
    }
    let ca_pem = match &args.ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?),
        None => None,
    };
    let client = backend_client(&cfg, http_client(ca_pem, StaticResolver(args.resolve))).await;

    // ensure_bucket at start-up: HeadBucket (the backend would try CreateBucket on 404).
    let bucket = match client.head_bucket().bucket(&cfg.bucket).send().await {
        Ok(_) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": describe(&e)}),
    };
    let mut files = Vec::new();
    for (i, (size, name)) in args.files.iter().enumerate() {
        files.push(one_document(&client, &cfg, args.building, *size, name, 0x9E37_79B9 + i as u64).await);
    }
    Ok(json!({
        "storage_provider": cfg.provider,
        "endpoint": cfg.endpoint,
        "region": cfg.region,
        "bucket": cfg.bucket,
        "force_path_style": cfg.force_path_style,
        "key_prefix": cfg.key_prefix,
        "building": args.building.to_string(),
        "head_bucket": bucket,
        "files": files,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("koprogo-client: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("koprogo-client: {e}");
            ExitCode::from(2)
        }
    }
}
