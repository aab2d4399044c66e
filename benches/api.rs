//! The server's own CPU cost per request, without sockets: the router answers
//! `GET /healthz` and `GET /api/v1/appliance` (with a valid token) through
//! `oneshot`, so the difference between the two is the token check and the
//! extractor around it. The whole-server figures with wrk on loopback come
//! from `bench/api.sh` (see docs/BENCHMARKS.md, "REST API").

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::{ExposeSecret, SecretString};
use tacctl::ops::{InitRequest, Ops};
use tacctl::server::{self, AppState, Options};
use tower::ServiceExt;

fn bench(c: &mut Criterion) {
    tacctl::jwt::ensure_provider().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("esa1");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    tacctl::ops::init(
        &root,
        InitRequest {
            name: "esa1".into(),
            cluster_id: Some("bench".into()),
            admin_user: "admin".into(),
            admin_password: SecretString::from("bench-admin-password"),
        },
        now,
    )
    .unwrap();
    let token = Ops::open(&root, std::time::Duration::from_secs(5))
        .unwrap()
        .login("admin", &SecretString::from("bench-admin-password"), now)
        .unwrap()
        .token;
    let bearer = format!("Bearer {}", token.expose_secret());
    let state = AppState::new(&root, Options::new("127.0.0.1:0".parse().unwrap())).unwrap();
    let router = server::router(Arc::clone(&state));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("api");
    g.bench_function("healthz", |b| {
        b.iter(|| {
            let req = Request::get("/healthz").body(Body::empty()).unwrap();
            let res = rt.block_on(router.clone().oneshot(req)).unwrap();
            assert!(res.status().is_success());
            black_box(res)
        })
    });
    g.bench_function("appliance_with_token", |b| {
        b.iter(|| {
            let req = Request::get("/api/v1/appliance")
                .header(header::AUTHORIZATION, bearer.as_str())
                .body(Body::empty())
                .unwrap();
            let res = rt.block_on(router.clone().oneshot(req)).unwrap();
            assert!(res.status().is_success());
            black_box(res)
        })
    });
    let live = state.live();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    g.bench_function("verify_only", |b| {
        b.iter(|| black_box(live.verify(black_box(token.expose_secret()), now).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
