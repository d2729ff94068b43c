//! The devices a command may be sent to, as an index space: never materialised, so a million
//! devices cost nothing.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::scenario::{Fleet, TargetKindSelector, TargetSelector};

/// Whether a target is a device (gateway) or a sub-device behind one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A device (LwM2M client, the EdgeIQ gateway).
    Gateway,
    /// A sub-device attached behind a device.
    SubDevice,
}

impl TargetKind {
    /// `gateway` or `sub_device`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Gateway => "gateway",
            TargetKind::SubDevice => "sub_device",
        }
    }
}

/// One concrete target: device `device` of class `class`, or its sub-device `sub`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetRef {
    /// Index of the device class in the scenario.
    pub class: u32,
    /// Index of the device within its class.
    pub device: u32,
    /// Sub-device index, `None` for the device itself.
    pub sub: Option<u16>,
}

impl TargetRef {
    /// Gateway or sub-device.
    pub fn kind(&self) -> TargetKind {
        if self.sub.is_some() {
            TargetKind::SubDevice
        } else {
            TargetKind::Gateway
        }
    }
}

#[derive(Debug, Clone)]
struct Segment {
    class: u32,
    /// Devices in the class.
    devices: u64,
    /// 0 for the gateways segment, else sub-devices per device.
    subs: u64,
    /// Index of the segment's first element in the space.
    start: u64,
    len: u64,
}

/// The targets of one command: the selected classes and kinds, restricted to a seeded
/// `fraction`. Picking is uniform over the restricted set.
#[derive(Debug, Clone)]
pub struct CandidateSpace {
    segments: Vec<Segment>,
    total: u64,
    /// Size of the seeded subset.
    subset: u64,
    /// Affine permutation `i -> (mul·i + add) mod total` choosing the subset.
    mul: u64,
    add: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl CandidateSpace {
    /// The candidates of `selector` in `fleet`; `rng` picks the subset permutation.
    pub fn new(fleet: &Fleet, selector: &TargetSelector, rng: &mut ChaCha8Rng) -> CandidateSpace {
        let mut segments = Vec::new();
        let mut total = 0u64;
        for (class_index, class) in fleet.classes.iter().enumerate() {
            if selector.class.as_deref().is_some_and(|n| n != class.name) {
                continue;
            }
            let class_u32 = u32::try_from(class_index).unwrap_or(u32::MAX);
            let devices = class.count as u64;
            if matches!(
                selector.kind,
                TargetKindSelector::Gateway | TargetKindSelector::Any
            ) {
                segments.push(Segment {
                    class: class_u32,
                    devices,
                    subs: 0,
                    start: total,
                    len: devices,
                });
                total += devices;
            }
            let subs = class.sub_devices as u64;
            if subs > 0
                && matches!(
                    selector.kind,
                    TargetKindSelector::SubDevice | TargetKindSelector::Any
                )
            {
                segments.push(Segment {
                    class: class_u32,
                    devices,
                    subs,
                    start: total,
                    len: devices * subs,
                });
                total += devices * subs;
            }
        }
        let subset =
            ((total as f64 * selector.fraction).ceil() as u64).clamp(u64::from(total > 0), total);
        let (mul, add) = if selector.fraction >= 1.0 || total <= 1 {
            (1, 0)
        } else {
            let mut mul = rng.random_range(1..total);
            while gcd(mul, total) != 1 {
                mul = if mul + 1 >= total { 1 } else { mul + 1 };
            }
            (mul, rng.random_range(0..total))
        };
        CandidateSpace {
            segments,
            total,
            subset,
            mul,
            add,
        }
    }

    /// Number of targets a command may pick from.
    pub fn len(&self) -> u64 {
        self.subset
    }

    /// True when there is nothing to pick.
    pub fn is_empty(&self) -> bool {
        self.subset == 0
    }

    /// The `i`-th member of the subset, `i < len()`.
    pub fn get(&self, i: u64) -> Option<TargetRef> {
        if i >= self.subset {
            return None;
        }
        let index = ((u128::from(self.mul) * u128::from(i) + u128::from(self.add))
            % u128::from(self.total)) as u64;
        let seg = self
            .segments
            .iter()
            .find(|s| index >= s.start && index < s.start + s.len)?;
        let offset = index - seg.start;
        let (device, sub) = match offset.checked_div(seg.subs) {
            None => (offset, None),
            Some(device) => (device, Some(u16::try_from(offset % seg.subs).ok()?)),
        };
        debug_assert!(device < seg.devices);
        Some(TargetRef {
            class: seg.class,
            device: u32::try_from(device).ok()?,
            sub,
        })
    }

    /// A uniformly chosen member of the subset.
    pub fn pick(&self, rng: &mut ChaCha8Rng) -> Option<TargetRef> {
        if self.is_empty() {
            return None;
        }
        self.get(rng.random_range(0..self.subset))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::plan::rng::{Purpose, stream};
    use crate::scenario::{DeviceClass, Profile, SubDeviceMode, SubDeviceRoute};

    fn fleet() -> Fleet {
        let class = |name: &str, count, sub_devices| DeviceClass {
            name: name.into(),
            count,
            sub_devices,
            endpoint_prefix: format!("fb-{name}-"),
            profile: Profile::default(),
            sub_device_mode: SubDeviceMode::Object25,
            queue_mode: false,
            queue_awake_window: Duration::from_secs(93),
            update_period: None,
        };
        Fleet {
            classes: vec![class("a", 10, 2), class("b", 5, 0)],
            registration_spread: Duration::ZERO,
            registration_timeout: Duration::from_secs(1),
            lifetime: Duration::from_secs(60),
        }
    }

    fn selector(class: Option<&str>, kind: TargetKindSelector, fraction: f64) -> TargetSelector {
        TargetSelector {
            class: class.map(Into::into),
            kind,
            fraction,
            route: SubDeviceRoute::Direct,
        }
    }

    #[test]
    fn spaces_cover_exactly_the_selected_targets() {
        let mut rng = stream(3, Purpose::TargetSubset, &[0]);
        let all = CandidateSpace::new(
            &fleet(),
            &selector(None, TargetKindSelector::Any, 1.0),
            &mut rng,
        );
        assert_eq!(all.len(), 10 + 20 + 5);
        let members: HashSet<_> = (0..all.len()).map(|i| all.get(i).unwrap()).collect();
        assert_eq!(members.len(), 35);
        assert_eq!(
            members
                .iter()
                .filter(|t| t.kind() == TargetKind::SubDevice)
                .count(),
            20
        );
        assert!(members.iter().all(|t| t.class == 0 || t.sub.is_none()));

        let subs = CandidateSpace::new(
            &fleet(),
            &selector(Some("a"), TargetKindSelector::SubDevice, 1.0),
            &mut rng,
        );
        assert_eq!(subs.len(), 20);
        assert!((0..20).all(|i| subs.get(i).unwrap().sub.is_some()));
        assert_eq!(subs.get(20), None);
    }

    #[test]
    fn fraction_selects_a_distinct_seeded_subset() {
        let sel = selector(None, TargetKindSelector::Gateway, 0.4);
        let a = CandidateSpace::new(&fleet(), &sel, &mut stream(3, Purpose::TargetSubset, &[0]));
        assert_eq!(a.len(), 6); // ceil(15 * 0.4)
        let members: HashSet<_> = (0..a.len()).map(|i| a.get(i).unwrap()).collect();
        assert_eq!(members.len(), 6, "permutation must not repeat");
        let again =
            CandidateSpace::new(&fleet(), &sel, &mut stream(3, Purpose::TargetSubset, &[0]));
        let same: HashSet<_> = (0..again.len()).map(|i| again.get(i).unwrap()).collect();
        assert_eq!(members, same);
    }

    #[test]
    fn picks_are_uniform_over_the_subset() {
        let space = CandidateSpace::new(
            &fleet(),
            &selector(Some("b"), TargetKindSelector::Gateway, 1.0),
            &mut stream(1, Purpose::TargetSubset, &[0]),
        );
        let mut rng = stream(1, Purpose::TargetChoice, &[0]);
        let mut counts = [0u32; 5];
        for _ in 0..50_000 {
            let t = space.pick(&mut rng).unwrap();
            assert_eq!(t.class, 1);
            counts[t.device as usize] += 1;
        }
        for c in counts {
            assert!((f64::from(c) - 10_000.0).abs() < 500.0, "{counts:?}");
        }
    }
}
