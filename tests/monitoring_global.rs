//! The free functions `tickwatch::get_system_health` and `tickwatch::send_alert` on the
//! global instance. One test in its own binary: the global instance is per process and
//! installed once.

use std::time::Duration;

use tickwatch::alerts::{Alert, AlertResponse, Refusal, Severity};
use tickwatch::health::component::COLLECTOR;
use tickwatch::health::Status;
use tickwatch::Telemetry;

#[test]
fn free_functions_answer_before_and_after_install() {
    // Nothing installed: unhealthy, one `tickwatch` component saying why; alerts refused.
    assert!(tickwatch::global().is_none());
    let h = tickwatch::get_system_health();
    assert_eq!(h.status, Status::Unhealthy, "{h:#?}");
    assert_eq!(h.components.len(), 1, "{h:#?}");
    assert_eq!(h.components[0].name, "tickwatch");
    assert_eq!(h.components[0].status, Status::Unhealthy);
    let base = tickwatch::calls_without_instance();
    assert_eq!(
        tickwatch::send_alert(Alert::new("risk_limit", Severity::Critical, "96%")),
        AlertResponse::Refused {
            reason: Refusal::NotInstalled
        }
    );
    assert_eq!(tickwatch::calls_without_instance() - base, 1);

    let guard = tickwatch::install(
        Telemetry::builder()
            .monitor_tick(Duration::from_millis(10))
            .resource_sampling(None)
            .alert_log(tickwatch::alerts::SeverityFilter::all()),
    )
    .unwrap();
    let h = tickwatch::get_system_health();
    assert!(h.component(COLLECTOR).is_some(), "{h:#?}");
    assert!(h.component("tickwatch").is_none(), "{h:#?}");
    // The global instance's own registry, not a copy: a component added through it shows.
    let tw = tickwatch::global().unwrap();
    tw.health()
        .register_check("exchange_link", || (Status::Degraded, "reconnecting"))
        .unwrap();
    let h = tickwatch::get_system_health();
    assert_eq!(
        h.component("exchange_link").unwrap().status,
        Status::Degraded
    );
    assert!(h.status >= Status::Degraded);

    let a = Alert::new("risk_limit", Severity::Critical, "96%");
    let AlertResponse::Accepted { id } = tickwatch::send_alert(a.clone()) else {
        panic!("not accepted")
    };
    assert_eq!(
        tickwatch::send_alert(a),
        AlertResponse::Deduplicated { id, count: 2 }
    );
    assert!(tw.active_alerts().iter().any(|x| x.id == id));

    let health = tw.health();
    guard.shutdown().unwrap();
    // The collector of the global instance has stopped and says so.
    let h = health.get_system_health();
    assert_eq!(
        h.component(COLLECTOR).unwrap().status,
        Status::Unhealthy,
        "{h:#?}"
    );
    // Nothing would deliver an alert now: refused, not accepted into a void; the global
    // instance is uninstalled, and the stopped instance itself refuses too.
    let late = Alert::new("late", Severity::Warning, "after shutdown");
    assert_eq!(
        tickwatch::send_alert(late.clone()),
        AlertResponse::Refused {
            reason: tickwatch::alerts::Refusal::NotInstalled
        }
    );
    assert_eq!(
        tw.send_alert(late),
        AlertResponse::Refused {
            reason: tickwatch::alerts::Refusal::Stopped
        }
    );
}
