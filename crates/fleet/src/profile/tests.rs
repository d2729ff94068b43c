//! Tests of profiles and their sampler.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coap_lite::ResponseType;

use super::*;

fn profile(delay: DelayDistribution) -> BehaviourProfile {
    BehaviourProfile {
        delay,
        ..BehaviourProfile::default()
    }
}

#[test]
fn validation_names_field_and_value() {
    let mut bad = BehaviourProfile {
        failure_ratio: 1.5,
        ..BehaviourProfile::default()
    };
    let err = bad.validate().unwrap_err();
    assert!(err.to_string().contains("failure_ratio") && err.to_string().contains("1.5"));
    bad.failure_ratio = 0.7;
    bad.no_reply_ratio = 0.6;
    assert!(matches!(bad.validate(), Err(ProfileError::RatioSum { .. })));
    bad.no_reply_ratio = f64::NAN;
    assert!(matches!(
        bad.validate(),
        Err(ProfileError::BadRatio {
            field: "no_reply_ratio",
            ..
        })
    ));
    let uniform = profile(DelayDistribution::Uniform {
        min: Duration::from_secs(2),
        max: Duration::from_secs(1),
    });
    assert!(uniform.validate().unwrap_err().to_string().contains("min"));
    let exp = profile(DelayDistribution::Exponential {
        mean: Duration::ZERO,
    });
    assert!(exp.validate().is_err());
    let log_normal = profile(DelayDistribution::LogNormal {
        mu: 0.0,
        sigma: -1.0,
    });
    assert!(log_normal.validate().is_err());
    assert!(BehaviourProfile::default().validate().is_ok());
}

#[test]
fn same_seed_same_draws_different_seed_different_draws() {
    let p = profile(DelayDistribution::Uniform {
        min: Duration::from_millis(10),
        max: Duration::from_millis(500),
    });
    let draws = |seed| {
        let mut b = Behaviour::new(p.clone(), seed);
        (0..20).map(|_| b.sample_delay()).collect::<Vec<_>>()
    };
    assert_eq!(draws(7), draws(7));
    assert_ne!(draws(7), draws(8));
    for delay in draws(9) {
        assert!(delay >= Duration::from_millis(10) && delay <= Duration::from_millis(500));
    }
}

#[test]
fn distributions_have_roughly_the_configured_mean() {
    let cases = [
        (
            DelayDistribution::Fixed(Duration::from_millis(250)),
            0.25,
            0.0001,
        ),
        (
            DelayDistribution::Normal {
                mean: Duration::from_millis(500),
                std_dev: Duration::from_millis(50),
            },
            0.5,
            0.01,
        ),
        (
            DelayDistribution::Exponential {
                mean: Duration::from_millis(200),
            },
            0.2,
            0.02,
        ),
        // exp(mu + sigma^2 / 2) = exp(-2 + 0.125) ~= 0.1534
        (
            DelayDistribution::LogNormal {
                mu: -2.0,
                sigma: 0.5,
            },
            0.1534,
            0.01,
        ),
    ];
    for (delay, mean, tolerance) in cases {
        let mut b = Behaviour::new(profile(delay.clone()), 3);
        let n = 20_000;
        let sum: f64 = (0..n).map(|_| b.sample_delay().as_secs_f64()).sum();
        let got = sum / f64::from(n);
        assert!(
            (got - mean).abs() < tolerance,
            "{delay:?}: mean {got}, want {mean}"
        );
    }
}

#[test]
fn normal_never_goes_negative() {
    let mut b = Behaviour::new(
        profile(DelayDistribution::Normal {
            mean: Duration::ZERO,
            std_dev: Duration::from_secs(1),
        }),
        1,
    );
    let zeros = (0..1000)
        .filter(|_| b.sample_delay() == Duration::ZERO)
        .count();
    assert!(zeros > 300 && zeros < 700, "{zeros} clamped draws");
}

#[test]
fn ratios_are_respected() {
    let p = BehaviourProfile {
        failure_ratio: 0.2,
        no_reply_ratio: 0.1,
        ..BehaviourProfile::default()
    };
    let mut b = Behaviour::new(p, 11);
    let (mut drops, mut fails, mut answers) = (0, 0, 0);
    for _ in 0..10_000 {
        match b.decide() {
            Disposition::NoReply => drops += 1,
            Disposition::Fail { .. } => fails += 1,
            Disposition::Answer { .. } => answers += 1,
        }
    }
    assert!((800..1200).contains(&drops), "{drops}");
    assert!((1700..2300).contains(&fails), "{fails}");
    assert!((6500..7500).contains(&answers), "{answers}");
    let mut always = Behaviour::new(BehaviourProfile::default(), 1);
    assert!((0..100).all(|_| always.decide()
        == Disposition::Answer {
            delay: Duration::ZERO
        }));
}

#[test]
fn injected_errors_use_the_chosen_codes() {
    let p = BehaviourProfile {
        failure_ratio: 1.0,
        error_codes: vec![ResponseType::ServiceUnavailable, ResponseType::NotFound],
        ..BehaviourProfile::default()
    };
    p.validate().unwrap();
    let mut b = Behaviour::new(p, 5);
    let (mut unavailable, mut not_found) = (0, 0);
    for _ in 0..1000 {
        match b.decide() {
            Disposition::Fail {
                code: ResponseType::ServiceUnavailable,
                ..
            } => unavailable += 1,
            Disposition::Fail {
                code: ResponseType::NotFound,
                ..
            } => not_found += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!((400..600).contains(&unavailable), "{unavailable}");
    assert_eq!(unavailable + not_found, 1000);
}

#[test]
fn new_fields_are_validated_with_their_names() {
    let check = |profile: BehaviourProfile, field: &str| {
        let error = profile.validate().unwrap_err().to_string();
        assert!(error.contains(field), "{field}: {error}");
    };
    check(
        BehaviourProfile {
            error_codes: vec![ResponseType::Content],
            ..BehaviourProfile::default()
        },
        "error_codes",
    );
    check(
        BehaviourProfile {
            failure_ratio: 0.5,
            error_codes: Vec::new(),
            ..BehaviourProfile::default()
        },
        "error_codes",
    );
    check(
        BehaviourProfile {
            sample_period: Duration::from_millis(1),
            ..BehaviourProfile::default()
        },
        "sample_period",
    );
    check(
        BehaviourProfile {
            firmware_failures: vec![FirmwareFailure {
                result: 1,
                ratio: 0.1,
            }],
            ..BehaviourProfile::default()
        },
        "firmware_failures.result",
    );
    check(
        BehaviourProfile {
            firmware_failures: vec![
                FirmwareFailure {
                    result: 5,
                    ratio: 0.6,
                },
                FirmwareFailure {
                    result: 8,
                    ratio: 0.6,
                },
            ],
            ..BehaviourProfile::default()
        },
        "firmware_failures",
    );
    check(
        BehaviourProfile {
            link: LinkProfile {
                downlink: LinkImpairment {
                    loss: 1.5,
                    ..LinkImpairment::default()
                },
                ..LinkProfile::default()
            },
            ..BehaviourProfile::default()
        },
        "link.downlink",
    );
    check(
        BehaviourProfile {
            churn: ChurnProfile {
                offline_rate_per_hour: -1.0,
                ..ChurnProfile::default()
            },
            ..BehaviourProfile::default()
        },
        "churn.offline_rate_per_hour",
    );
    check(
        BehaviourProfile {
            churn: ChurnProfile {
                offline_duration: DelayDistribution::Exponential {
                    mean: Duration::ZERO,
                },
                ..ChurnProfile::default()
            },
            ..BehaviourProfile::default()
        },
        "churn.offline_duration",
    );
}

#[test]
fn exponential_waits_have_the_rate() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    assert!(exponential_wait(&mut rng, 0.0).is_none());
    assert!(exponential_wait(&mut rng, f64::NAN).is_none());
    let n = 5000;
    let total: f64 = (0..n)
        .map(|_| exponential_wait(&mut rng, 60.0).unwrap().as_secs_f64())
        .sum();
    let mean = total / f64::from(n);
    assert!((mean - 60.0).abs() < 4.0, "mean wait {mean} s for 60/h");
}

mod spec {
    use super::*;

    fn parse(text: &str) -> Result<ProfileSpec, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_spec_converts_into_the_profile_the_devices_run() {
        let spec = parse(
            "delay = { distribution = \"lognormal\", median = \"20ms\", sigma = 0.5 }\n\
             failure_ratio = 0.1\nlink = { loss = 0.2 }\n",
        )
        .unwrap();
        let b = spec.to_behaviour();
        match b.delay {
            DelayDistribution::LogNormal { mu, sigma } => {
                assert!((mu.exp() - 0.020).abs() < 1e-12);
                assert_eq!(sigma, 0.5);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.failure_ratio, 0.1);
        assert_eq!((b.link.uplink.loss, b.link.downlink.loss), (0.2, 0.2));
        assert_eq!(b.link.uplink.reorder_delay, Duration::from_millis(10));
        assert_eq!(b.reboot_downtime, Duration::from_secs(2));
        assert!(b.validate().is_ok());
    }

    #[test]
    fn a_distribution_takes_exactly_its_parameters() {
        let err = parse("delay = { distribution = \"fixed\", mean = \"1s\" }").unwrap_err();
        assert!(err.contains("unknown field `mean`"), "{err}");
        let err = parse("delay = { distribution = \"normal\", mean = \"1s\" }").unwrap_err();
        assert!(err.contains("missing field `std_dev`"), "{err}");
        let err = parse("delay = { distribution = \"gamma\" }").unwrap_err();
        assert!(err.contains("unknown variant `gamma`"), "{err}");
        let err = parse("delay = { distribution = \"fixed\", value = 5 }").unwrap_err();
        assert!(err.contains("\"5s\""), "{err}");
        let err = parse("lnk = {}").unwrap_err();
        assert!(err.contains("unknown field `lnk`"), "{err}");
    }

    #[test]
    fn problems_name_every_bad_field_and_its_value() {
        let spec = parse(
            "failure_ratio = 1.5\nfirmware_failures = [{ result = 1, ratio = 0.5 }]\n\
             link = { loss = -0.1 }\nchurn = { reboot_rate_per_hour = -1 }\n\
             delay = { distribution = \"uniform\", min = \"2s\", max = \"1s\" }\n",
        )
        .unwrap();
        let problems = spec.problems();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "failure_ratio",
                "link.loss",
                "firmware_failures[0].result",
                "churn.reboot_rate_per_hour",
                "delay.max"
            ]
        );
        assert!(problems[0].message.contains("got 1.5"));
        assert!(problems[2].message.contains("got 1"));
        assert!(ProfileSpec::default().problems().is_empty());
        let sum = parse("failure_ratio = 0.6\nno_reply_ratio = 0.5").unwrap();
        assert_eq!(sum.problems()[0].field, "no_reply_ratio");
    }
}
