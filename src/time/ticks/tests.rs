use super::*;

#[test]
fn ticks_advance_and_convert_close_to_system_time() {
    let clock = Clock::global();
    let a = now_ticks();
    std::thread::sleep(Duration::from_millis(5));
    let b = now_ticks();
    assert!(b > a);
    let dt = clock.conversion().ticks_to_nanos(b - a);
    assert!(
        (4_000_000..200_000_000).contains(&dt),
        "5 ms sleep measured as {dt} ns"
    );
    let now = i128::from(unix_now_ns());
    let conv = i128::from(clock.conversion().unix_nanos(now_ticks()));
    assert!(
        (now - conv).abs() < 50_000_000,
        "conversion off by {} ns",
        now - conv
    );
}

#[test]
fn conversion_is_continuous_and_monotonic_across_refinement() {
    let clock = Clock::global();
    let t = now_ticks();
    let before = clock.conversion().unix_nanos(t);
    clock.refine();
    let conv = clock.conversion();
    let after = conv.unix_nanos(t);
    assert_eq!(after, before, "an old reading keeps its time");
    let mut last = after;
    for _ in 0..1000 {
        let now = conv.unix_nanos(now_ticks());
        assert!(now >= last, "{now} < {last}");
        last = now;
    }
}

#[test]
fn fixed_point_segment_is_exact_to_a_nanosecond() {
    // 0.5 ns per tick (a 2 GHz TSC) and an awkward 0.3846... ns per tick (2.6 GHz).
    for (ns, ticks) in [(1u128, 2u128), (5, 13), (1, 1), (7, 3)] {
        let mult = slope(ns, ticks);
        let seg = Segment {
            ticks: 1 << 40,
            unix_ns: 1_767_225_600_000_000_000,
            mult,
        };
        let mut last = 0;
        for d in 0..10_000u64 {
            let got = seg.at(seg.ticks + d);
            let exact = u128::from(seg.unix_ns) * ticks + u128::from(d) * ns;
            let exact = (exact / ticks) as u64;
            assert!(got.abs_diff(exact) <= 1, "d {d}: {got} vs {exact}");
            assert!(got >= last);
            last = got;
        }
        // Before the anchor: never after the anchor's own value, still monotonic.
        assert!(seg.at(seg.ticks - 1) <= seg.unix_ns);
        assert!(seg.at(seg.ticks - 100) <= seg.at(seg.ticks - 99));
    }
}

#[test]
fn refinement_slews_at_most_max_ppm() {
    let clock = Clock::global();
    clock.refine();
    let a = clock.segments.lock()[0].mult;
    clock.refine();
    let b = clock.segments.lock()[0].mult;
    let limit = a / 1_000_000 * (2 * MAX_SLEW_PPM + 1) + 2;
    // Two refinements a moment apart measure about the same slope; the change is the slew.
    assert!(a.abs_diff(b) <= limit, "{a} -> {b}");
}

#[test]
fn the_resolution_is_a_whole_number_of_ticks() {
    assert_eq!(gcd(0, 20), 20);
    assert_eq!(gcd(40, 60), 20);
    assert_eq!(gcd(7, 20), 1);
    let info = crate::clock_info();
    let steps = info.resolution_ns / info.tick_ns;
    assert!(
        steps >= 1.0 && (steps - steps.round()).abs() < 1e-9,
        "{info:?}"
    );
}
