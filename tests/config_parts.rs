//! The parts a configuration names (`[segment_log]`, `[prometheus]`, `[security.key_ring]`,
//! `[[routes]]` to an Alertmanager) are built at start from the file alone, refused with an
//! error naming the section when they cannot be, and refused by a reload (fixed at start).

#[path = "common/temp.rs"]
mod temp;
use temp::temp_dir;

use tickwatch::store::LogQuery;
use tickwatch::{Config, ReloadError, StartError, Telemetry};

fn toml_path(p: &std::path::Path) -> String {
    format!("{:?}", p.display().to_string())
}

#[test]
fn a_segment_log_section_is_opened_and_queried() {
    let dir = temp_dir("log");
    let text = format!(
        "[segment_log]\ndir = {}\nsegment_bytes = 65536\nretain_age = \"7days\"\ndurability = \"sync_every_batch\"\nsamples = false\n",
        toml_path(&dir.join("log"))
    );
    let config = Config::from_toml(&text).unwrap();
    assert_eq!(Config::from_toml(&config.to_toml()).unwrap(), config);
    let tw = Telemetry::from_config(config.clone()).unwrap();
    tickwatch::warn!(&tw, "order rejected", order_id = 42u64);
    tw.flush().unwrap();
    let found = tw
        .query_logs(&"order_id=42".parse::<LogQuery>().unwrap())
        .unwrap();
    assert_eq!(found.records.len(), 1);
    assert!(std::fs::read_dir(dir.join("log")).unwrap().count() > 0);

    // Fixed at start: a reload that moves it is refused, naming it.
    let mut moved = config.clone();
    moved.segment_log.as_mut().unwrap().dir = dir.join("elsewhere");
    match tw.reload(moved) {
        Err(ReloadError::NotLive { key, .. }) => assert_eq!(key, "segment_log.dir"),
        other => panic!("{other:?}"),
    }
    drop(tw);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_encrypted_segment_log_needs_a_key_ring_and_a_key_file_section_gives_one() {
    let dir = temp_dir("enc");
    let log = toml_path(&dir.join("log"));
    let e = Telemetry::from_config(
        Config::from_toml(&format!("[segment_log]\ndir = {log}\nencrypt = true\n")).unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, StartError::Section { key: "segment_log", message } if message.contains("key ring")),
        "{e}"
    );

    let keys = dir.join("keys.txt");
    std::fs::write(
        &keys,
        "# test keys\nk1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
    )
    .unwrap();
    let config = Config::from_toml(&format!(
        "[segment_log]\ndir = {log}\nencrypt = true\n\n[security.key_ring]\nkey_file = {}\n",
        toml_path(&keys)
    ))
    .unwrap();
    let tw = Telemetry::from_config(config).unwrap();
    let ring = tw.key_ring().expect("built from the section").clone();
    assert_eq!(ring.active_key_id().as_deref(), Some("k1"));
    let sealed = ring.encrypt_data(b"fill 42").unwrap();
    assert_eq!(&ring.decrypt_data(&sealed).unwrap()[..], b"fill 42");
    tickwatch::info!(&tw, "sealed record", n = 1u64);
    tw.flush().unwrap();
    let found = tw.query_logs(&"n=1".parse::<LogQuery>().unwrap()).unwrap();
    assert_eq!(
        found.records.len(),
        1,
        "the instance reads its encrypted log"
    );
    drop(tw);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_wrapped_key_file_is_created_under_the_kek_from_the_environment() {
    let dir = temp_dir("wrapped");
    let var = format!("TW_TEST_KEK_{}", std::process::id());
    // Edition 2021: setting a variable this test alone reads.
    std::env::set_var(
        &var,
        "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100",
    );
    let wrapped = dir.join("keys.wrapped");
    let text = format!(
        "[security.key_ring]\nwrapped_key_file = {}\nkek_env = {var:?}\nkey_env = {{ app = {var:?} }}\n",
        toml_path(&wrapped)
    );
    let tw = Telemetry::from_config(Config::from_toml(&text).unwrap()).unwrap();
    assert!(tw.key_ring().unwrap().contains("app"));
    assert!(wrapped.exists(), "the ring persisted its keys, wrapped");
    let on_disk = std::fs::read_to_string(&wrapped).unwrap();
    assert!(on_disk.starts_with("tickwatch-keyring 1"));
    drop(tw);

    let no_kek = format!(
        "[security.key_ring]\nwrapped_key_file = {}\n",
        toml_path(&wrapped)
    );
    let e = Telemetry::from_config(Config::from_toml(&no_kek).unwrap()).unwrap_err();
    assert!(e.to_string().contains("kek_env"), "{e}");
    let empty =
        Telemetry::from_config(Config::from_toml("[security.key_ring]\n").unwrap()).unwrap_err();
    assert!(empty.to_string().contains("no key source"), "{empty}");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(feature = "http")]
#[test]
fn a_prometheus_section_serves_metrics_from_start_to_drop() {
    use std::io::{Read, Write};
    let config = Config::from_toml("[prometheus]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let tw = Telemetry::from_config(config.clone()).unwrap();
    let addr = tw.metrics_addr().expect("listening");
    tw.counter("orders", &[]).add(3);
    tw.flush().unwrap();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("orders_total 3\n"), "{body}");

    let mut other = config.clone();
    other.prometheus.listen = Some("127.0.0.1:1".into());
    assert!(matches!(
        tw.reload(other),
        Err(ReloadError::NotLive { key, .. }) if key == "prometheus.listen"
    ));
    drop(tw);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the endpoint stopped with the instance"
    );
}

#[test]
fn an_alertmanager_route_needs_a_url_and_a_bad_one_refuses_start_and_reload() {
    let e = Config::from_toml("[[routes]]\nname = \"pager\"\nto = \"alertmanager\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("routes"), "{e}");
    assert!(e.message.contains("needs url"), "{e}");

    let bad = Config::from_toml(
        "[[routes]]\nname = \"pager\"\nto = \"alertmanager\"\nurl = \"ftp://nowhere\"\n",
    )
    .unwrap();
    let e = Telemetry::from_config(bad.clone()).unwrap_err();
    assert!(
        matches!(&e, StartError::Section { key: "routes", message } if message.contains("pager")),
        "{e}"
    );
    let tw = Telemetry::from_config(Config::default()).unwrap();
    assert!(matches!(tw.reload(bad), Err(ReloadError::Route(m)) if m.contains("pager")));
    assert_eq!(tw.config(), Config::default());
}

#[cfg(feature = "alertmanager")]
#[test]
fn an_alertmanager_route_starts_from_the_file_and_reloads_away() {
    let with = Config::from_toml(
        "[[routes]]\nname = \"pager\"\nto = \"alertmanager\"\nurl = \"http://127.0.0.1:9\"\nmin_severity = \"critical\"\n",
    )
    .unwrap();
    let tw = Telemetry::from_config(with.clone()).unwrap();
    let report = tw.reload(Config::default()).unwrap();
    assert_eq!(report.changed, ["routes"]);
    assert!(report.in_force);
    let report = tw.reload(with).unwrap();
    assert_eq!(report.changed, ["routes"]);
}
