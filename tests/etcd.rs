//! The etcd client against a real three-member etcd cluster on loopback
//! ports with TLS and client certificates: reads, writes, transactions that
//! compare a revision, leases, watches (and what a watch from a compacted
//! revision says), and what happens with one member down (nothing visible)
//! and two down (a clear error, then recovery when they return).

mod common;

use std::time::{Duration, Instant};

use common::etcd::EtcdCluster;
use tacctl::cluster::etcd::{Etcd, EtcdError, Event, ModRevisionIs, Op, Settings, WatchMessage};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn reads_writes_transactions_leases_and_watches_work_over_tls() {
    let etcd = EtcdCluster::start(3);
    let c = etcd.client();
    rt().block_on(async {
        assert_eq!(c.get(b"/t/a").await.unwrap(), None);
        let r1 = c.put(b"/t/a", b"one", 0).await.unwrap();
        let kv = c.get(b"/t/a").await.unwrap().unwrap();
        assert_eq!((kv.value.as_slice(), kv.mod_revision), (&b"one"[..], r1));
        c.put(b"/t/b", b"", 0).await.unwrap();
        c.put(b"/u/c", b"elsewhere", 0).await.unwrap();
        let (kvs, at) = c.list(b"/t/").await.unwrap();
        let keys: Vec<&[u8]> = kvs.iter().map(|k| k.key.as_slice()).collect();
        assert_eq!(keys, vec![&b"/t/a"[..], &b"/t/b"[..]]);
        assert!(kvs[1].value.is_empty());
        assert!(at > r1);

        // A transaction that compares the revision: the first wins, the
        // second (which read the same revision) changes nothing.
        let put = |v: &[u8]| Op::Put {
            key: b"/t/a".to_vec(),
            value: v.to_vec(),
            lease: 0,
        };
        let when = [ModRevisionIs {
            key: b"/t/a".to_vec(),
            revision: r1,
        }];
        let first = c.txn(&when, &[put(b"two")]).await.unwrap();
        assert!(first.succeeded);
        let second = c.txn(&when, &[put(b"three")]).await.unwrap();
        assert!(!second.succeeded);
        assert_eq!(c.get(b"/t/a").await.unwrap().unwrap().value, b"two");
        // Revision 0 means "does not exist yet".
        let create = [ModRevisionIs {
            key: b"/t/new".to_vec(),
            revision: 0,
        }];
        let op = [Op::Put {
            key: b"/t/new".to_vec(),
            value: b"x".to_vec(),
            lease: 0,
        }];
        assert!(c.txn(&create, &op).await.unwrap().succeeded);
        assert!(!c.txn(&create, &op).await.unwrap().succeeded);

        // A leased key lives while the lease is kept alive, and goes with it.
        let lease = c.grant(Duration::from_secs(2)).await.unwrap();
        c.put(b"/t/live", b"here", lease).await.unwrap();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(900)).await;
            assert!(c.keep_alive(lease).await.unwrap() >= 1);
        }
        assert_eq!(c.get(b"/t/live").await.unwrap().unwrap().lease, lease);
        c.revoke(lease).await.unwrap();
        assert_eq!(c.get(b"/t/live").await.unwrap(), None);
        assert!(matches!(
            c.keep_alive(lease).await,
            Err(EtcdError::LeaseExpired(_))
        ));

        // A watch from a past revision sees every later write, in order.
        let mut w = c.watch(b"/t/", r1 + 1).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 4 {
            match w.next().await.unwrap().unwrap() {
                WatchMessage::Events(events) => seen.extend(events),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(&seen[0], Event::Put(kv) if kv.key == b"/t/b"));
        assert!(matches!(&seen[1], Event::Put(kv) if kv.value == b"two"));
        assert!(matches!(&seen[2], Event::Put(kv) if kv.key == b"/t/new"));
        assert!(matches!(&seen[3], Event::Put(kv) if kv.key == b"/t/live"));
        // ... and writes made while it runs.
        let later = c.put(b"/t/later", b"4", 0).await.unwrap();
        loop {
            match w.next().await.unwrap().unwrap() {
                WatchMessage::Events(events) => {
                    if let Some(Event::Put(kv)) = events
                        .iter()
                        .find(|e| matches!(e, Event::Put(kv) if kv.key == b"/t/later"))
                    {
                        assert_eq!(kv.mod_revision, later);
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    });
}

#[test]
fn a_watch_from_a_compacted_revision_says_so() {
    let etcd = EtcdCluster::start(1);
    let c = etcd.client();
    rt().block_on(async {
        let first = c.put(b"/k", b"1", 0).await.unwrap();
        c.put(b"/k", b"2", 0).await.unwrap();
        let last = c.put(b"/k", b"3", 0).await.unwrap();
        assert!(etcd.compact(last), "compaction failed");
        let mut w = c.watch(b"/k", first).await.unwrap();
        assert_eq!(
            w.next().await.unwrap(),
            Some(WatchMessage::Compacted {
                compact_revision: last
            })
        );
    });
}

#[test]
fn one_member_down_changes_nothing_two_down_is_a_clear_error_and_it_recovers() {
    let mut etcd = EtcdCluster::start(3);
    let c = etcd.client();
    let rt = rt();
    rt.block_on(c.put(b"/f/a", b"1", 0)).unwrap();

    // The first endpoint, the one the client used last, goes away.
    etcd.stop(0);
    rt.block_on(async {
        let r = c.put(b"/f/a", b"2", 0).await.unwrap();
        assert_eq!(c.get(b"/f/a").await.unwrap().unwrap().mod_revision, r);
        let mut w = c.watch(b"/f/", r).await.unwrap();
        assert!(matches!(w.next().await.unwrap(), Some(WatchMessage::Events(e)) if !e.is_empty()));
    });

    // Two of three down: no quorum. Writes fail in bounded time, naming
    // every endpoint and what to do.
    etcd.stop(1);
    let started = Instant::now();
    let err = rt.block_on(c.put(b"/f/a", b"3", 0)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(matches!(err, EtcdError::Unavailable(_)), "{text}");
    for e in etcd.endpoints() {
        assert!(text.contains(&e), "{text} does not name {e}");
    }
    assert!(
        text.contains("keeps serving its last configuration"),
        "{text}"
    );

    // Back to two: it works again, and nothing written was lost. (The
    // write that timed out may still have been applied: its proposal was in
    // the surviving member's log. That is etcd's rule for any timed-out
    // write, which is why a publish reads back what it wrote.)
    etcd.start_member(0);
    etcd.wait_ready(Duration::from_secs(30));
    rt.block_on(async {
        let value = c.get(b"/f/a").await.unwrap().unwrap().value;
        assert!(value == b"2" || value == b"3", "{value:?}");
    });
}

#[test]
fn a_client_without_the_right_certificates_is_refused_with_a_clear_error() {
    let etcd = EtcdCluster::start(1);
    // A CA that did not sign etcd's certificate.
    let other = EtcdCluster::start(1);
    let wrong_ca = Settings {
        ca_pem: other.ca_pem.clone(),
        ..etcd.settings()
    };
    let c = Etcd::new(&wrong_ca, Duration::from_secs(3)).unwrap();
    let err = rt().block_on(c.get(b"/x")).unwrap_err().to_string();
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    // A client certificate etcd's CA did not sign.
    let wrong_client = Settings {
        cert_pem: other.cert_pem.clone(),
        key_pem: secrecy::SecretSlice::from(other.key_pem.as_bytes().to_vec()),
        ..etcd.settings()
    };
    let c = Etcd::new(&wrong_client, Duration::from_secs(3)).unwrap();
    assert!(rt().block_on(c.get(b"/x")).is_err());
    // Plain http is refused before any connection.
    let plain = Settings {
        endpoints: vec!["http://127.0.0.1:2379".into()],
        ..etcd.settings()
    };
    let err = Etcd::new(&plain, Duration::from_secs(3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TLS only"), "{err}");
}

#[test]
fn of_two_publishes_from_the_same_revision_one_wins_and_the_other_is_told() {
    use tacctl::cluster::store::{Published, RECORD_VERSION, Store, StoreError};
    let etcd = EtcdCluster::start(1);
    let store = Store::new(&etcd.settings(), "/tacctl/c1/", Duration::from_secs(3)).unwrap();
    let published = |by: &str| Published {
        version: RECORD_VERSION,
        publisher: by.into(),
        published_at: 1,
        components: vec!["jwt".into()],
        recipients: vec![],
        bundle: "AAAA".into(),
    };
    rt().block_on(async {
        assert!(store.latest().await.unwrap().is_none());
        // Both administrators start from "nothing published yet".
        let first = store.publish(&published("esa1"), 0).await.unwrap();
        let err = store.publish(&published("esa2"), 0).await.unwrap_err();
        match &err {
            StoreError::Conflict {
                revision,
                publisher,
            } => {
                assert_eq!(*revision, first);
                assert_eq!(publisher, "esa1");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("publish again"), "{err}");
        // Nothing of the loser was written; the winner's is intact.
        let (revision, latest) = store.latest().await.unwrap().unwrap();
        assert_eq!((revision, latest.publisher.as_str()), (first, "esa1"));
        // Starting from the winner's revision, the next one goes through.
        let second = store.publish(&published("esa2"), first).await.unwrap();
        assert!(second > first);
    });
}
