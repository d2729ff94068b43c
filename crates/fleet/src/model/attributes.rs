//! Notification attributes (OMA LwM2M 1.1 Core §5.1.2): `pmin`, `pmax`, `gt`, `lt`, `st`,
//! `epmin` and `epmax`, attached by Write-Attributes to an object, an instance, a resource or
//! a resource instance, and inherited downwards (object → instance → resource → resource
//! instance; the lowest level that sets a key wins).
//!
//! Write-Attributes carries the changes as Uri-Query items: `pmin=10` sets, a bare `pmin`
//! clears. `gt`, `lt` and `st` may only be attached to a numeric resource (or resource
//! instance); `lt < gt` and `lt + 2·st < gt` must hold when they are set together.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fleetbench_lwm2m::path::Lwm2mPath;

/// Most paths with attributes one data model keeps; new paths beyond it are refused (4.00).
pub const MAX_ATTRIBUTE_PATHS: usize = 256;

/// The attributes attached to one path (or in force for it, after inheritance).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Attributes {
    /// Minimum seconds between two notifications.
    pub pmin: Option<u32>,
    /// Maximum seconds between two notifications (ignored when not above `pmin`, or 0).
    pub pmax: Option<u32>,
    /// Notify when the value crosses this threshold upwards or downwards ("greater than").
    pub gt: Option<f64>,
    /// Notify when the value crosses this threshold ("less than").
    pub lt: Option<f64>,
    /// Notify when the value moved by at least this much since the last notification.
    pub st: Option<f64>,
    /// Minimum seconds between two evaluations of the change conditions.
    pub epmin: Option<u32>,
    /// Maximum seconds between two evaluations of the change conditions.
    pub epmax: Option<u32>,
}

/// One Write-Attributes key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKey {
    /// `pmin`.
    Pmin,
    /// `pmax`.
    Pmax,
    /// `gt`.
    Gt,
    /// `lt`.
    Lt,
    /// `st`.
    St,
    /// `epmin`.
    Epmin,
    /// `epmax`.
    Epmax,
}

impl AttributeKey {
    /// The key as written in a query.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pmin => "pmin",
            Self::Pmax => "pmax",
            Self::Gt => "gt",
            Self::Lt => "lt",
            Self::St => "st",
            Self::Epmin => "epmin",
            Self::Epmax => "epmax",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pmin" => Self::Pmin,
            "pmax" => Self::Pmax,
            "gt" => Self::Gt,
            "lt" => Self::Lt,
            "st" => Self::St,
            "epmin" => Self::Epmin,
            "epmax" => Self::Epmax,
            _ => return None,
        })
    }

    /// Whether the key is a change condition (`gt`, `lt`, `st`): numeric resources only.
    pub fn is_condition(self) -> bool {
        matches!(self, Self::Gt | Self::Lt | Self::St)
    }
}

/// One change a Write-Attributes query asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeChange {
    /// `key=value`.
    Set(AttributeKey, f64),
    /// Bare `key`: remove it at this level.
    Clear(AttributeKey),
}

impl AttributeChange {
    fn key(self) -> AttributeKey {
        match self {
            Self::Set(key, _) | Self::Clear(key) => key,
        }
    }
}

/// Why a Write-Attributes request is refused (answered 4.00). The message names the
/// attribute and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("attribute {key} is {value:?}: {reason}")]
pub struct AttributeError {
    /// The attribute (or query item).
    pub key: String,
    /// Its value as received.
    pub value: String,
    /// Why it is refused.
    pub reason: &'static str,
}

fn error(key: &str, value: &str, reason: &'static str) -> AttributeError {
    AttributeError {
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    }
}

/// Parses Write-Attributes query items (`pmin=10`, `gt=20.5`, bare `pmax`).
pub fn parse_query<S: AsRef<str>>(query: &[S]) -> Result<Vec<AttributeChange>, AttributeError> {
    let mut changes = Vec::with_capacity(query.len());
    for item in query {
        let item = item.as_ref();
        let (name, value) = match item.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (item, None),
        };
        let key = AttributeKey::parse(name)
            .ok_or_else(|| error(name, value.unwrap_or_default(), "not a writable attribute"))?;
        if changes
            .iter()
            .any(|change: &AttributeChange| change.key() == key)
        {
            return Err(error(
                name,
                value.unwrap_or_default(),
                "given twice in one request",
            ));
        }
        let Some(value) = value else {
            changes.push(AttributeChange::Clear(key));
            continue;
        };
        let number = if key.is_condition() {
            let number: f64 = value
                .parse()
                .map_err(|_| error(name, value, "not a number"))?;
            if !number.is_finite() {
                return Err(error(name, value, "not a finite number"));
            }
            if key == AttributeKey::St && number < 0.0 {
                return Err(error(name, value, "the step must not be negative"));
            }
            number
        } else {
            let seconds: u32 = value
                .parse()
                .map_err(|_| error(name, value, "not a whole number of seconds"))?;
            f64::from(seconds)
        };
        changes.push(AttributeChange::Set(key, number));
    }
    Ok(changes)
}

impl Attributes {
    /// Whether no attribute is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `self` where set, `base` elsewhere.
    pub fn over(self, base: Attributes) -> Attributes {
        Attributes {
            pmin: self.pmin.or(base.pmin),
            pmax: self.pmax.or(base.pmax),
            gt: self.gt.or(base.gt),
            lt: self.lt.or(base.lt),
            st: self.st.or(base.st),
            epmin: self.epmin.or(base.epmin),
            epmax: self.epmax.or(base.epmax),
        }
    }

    /// Whether a change condition (`gt`, `lt`, `st`) is set.
    pub fn has_conditions(&self) -> bool {
        self.gt.is_some() || self.lt.is_some() || self.st.is_some()
    }

    fn apply(&mut self, change: AttributeChange) {
        let seconds = |value: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(value as u32)
        };
        match change {
            AttributeChange::Set(AttributeKey::Pmin, v) => self.pmin = seconds(v),
            AttributeChange::Set(AttributeKey::Pmax, v) => self.pmax = seconds(v),
            AttributeChange::Set(AttributeKey::Epmin, v) => self.epmin = seconds(v),
            AttributeChange::Set(AttributeKey::Epmax, v) => self.epmax = seconds(v),
            AttributeChange::Set(AttributeKey::Gt, v) => self.gt = Some(v),
            AttributeChange::Set(AttributeKey::Lt, v) => self.lt = Some(v),
            AttributeChange::Set(AttributeKey::St, v) => self.st = Some(v),
            AttributeChange::Clear(key) => match key {
                AttributeKey::Pmin => self.pmin = None,
                AttributeKey::Pmax => self.pmax = None,
                AttributeKey::Gt => self.gt = None,
                AttributeKey::Lt => self.lt = None,
                AttributeKey::St => self.st = None,
                AttributeKey::Epmin => self.epmin = None,
                AttributeKey::Epmax => self.epmax = None,
            },
        }
    }

    fn check(&self) -> Result<(), AttributeError> {
        if let (Some(lt), Some(gt)) = (self.lt, self.gt) {
            if lt >= gt {
                return Err(error("lt", &lt.to_string(), "must be below gt"));
            }
            if let Some(st) = self.st
                && lt + 2.0 * st >= gt
            {
                return Err(error("st", &st.to_string(), "lt + 2 * st must be below gt"));
            }
        }
        if let (Some(epmin), Some(epmax)) = (self.epmin, self.epmax)
            && epmax <= epmin
        {
            return Err(error("epmax", &epmax.to_string(), "must be above epmin"));
        }
        Ok(())
    }

    /// The attributes as link-format parameters, in the order LwM2M lists them
    /// (`pmin=10;pmax=60;gt=20.5`), for Discover.
    pub fn link_params(&self) -> String {
        let mut out = String::new();
        let mut push = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                if !out.is_empty() {
                    out.push(';');
                }
                let _ = write!(out, "{name}={value}");
            }
        };
        push("pmin", self.pmin.map(|v| v.to_string()));
        push("pmax", self.pmax.map(|v| v.to_string()));
        push("gt", self.gt.map(|v| v.to_string()));
        push("lt", self.lt.map(|v| v.to_string()));
        push("st", self.st.map(|v| v.to_string()));
        push("epmin", self.epmin.map(|v| v.to_string()));
        push("epmax", self.epmax.map(|v| v.to_string()));
        out
    }
}

/// The attributes attached in one data model, by path (without sub-device prefix).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeStore {
    attached: BTreeMap<Lwm2mPath, Attributes>,
}

impl AttributeStore {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The attributes attached at exactly `path` (no inheritance).
    pub fn attached(&self, path: &Lwm2mPath) -> Attributes {
        self.attached
            .get(&path.without_prefix())
            .copied()
            .unwrap_or_default()
    }

    /// The attributes in force for `path`: each key from the lowest level that sets it.
    pub fn effective(&self, path: &Lwm2mPath) -> Attributes {
        if self.attached.is_empty() {
            return Attributes::default();
        }
        let ids = path.ids();
        let mut result = Attributes::default();
        for depth in (1..=ids.len()).rev() {
            if let Ok(ancestor) = Lwm2mPath::from_ids(None, &ids[..depth])
                && let Some(level) = self.attached.get(&ancestor)
            {
                result = result.over(*level);
            }
        }
        result
    }

    /// Applies Write-Attributes `changes` at `path`. `numeric` says whether `path` is a
    /// numeric resource or resource instance (only those take `gt`, `lt` and `st`).
    /// Nothing changes when the request is refused.
    pub fn write(
        &mut self,
        path: &Lwm2mPath,
        changes: &[AttributeChange],
        numeric: bool,
    ) -> Result<(), AttributeError> {
        let key = path.without_prefix();
        for change in changes {
            if let AttributeChange::Set(attribute, value) = change
                && attribute.is_condition()
                && (path.resource.is_none() || !numeric)
            {
                return Err(error(
                    attribute.name(),
                    &value.to_string(),
                    "gt, lt and st apply only to a numeric resource",
                ));
            }
        }
        let mut updated = self.attached.get(&key).copied().unwrap_or_default();
        for change in changes {
            updated.apply(*change);
        }
        updated.check()?;
        if updated.is_empty() {
            self.attached.remove(&key);
        } else {
            if !self.attached.contains_key(&key) && self.attached.len() >= MAX_ATTRIBUTE_PATHS {
                return Err(error(
                    "path",
                    &key.to_string(),
                    "too many paths carry attributes on this device",
                ));
            }
            self.attached.insert(key, updated);
        }
        Ok(())
    }

    /// Forgets the attributes at and below `path` (the instance was deleted).
    pub fn remove_under(&mut self, path: &Lwm2mPath) {
        let root = path.without_prefix();
        self.attached
            .retain(|attached, _| !attached.starts_with(&root));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn path(text: &str) -> Lwm2mPath {
        text.parse().unwrap()
    }

    #[test]
    fn parses_sets_and_clears() {
        let changes = parse_query(&["pmin=10", "gt=20.5", "st"]).unwrap();
        assert_eq!(
            changes,
            [
                AttributeChange::Set(AttributeKey::Pmin, 10.0),
                AttributeChange::Set(AttributeKey::Gt, 20.5),
                AttributeChange::Clear(AttributeKey::St),
            ]
        );
        for bad in [
            "dim=3",
            "pmin=-1",
            "pmin=1.5",
            "gt=abc",
            "gt=inf",
            "st=-2",
            "pmax=99999999999",
        ] {
            let err = parse_query(&[bad]).unwrap_err();
            assert!(
                err.to_string().contains(bad.split('=').next().unwrap()),
                "{bad}: {err}"
            );
        }
        assert!(parse_query(&["pmin=1", "pmin=2"]).is_err());
    }

    #[test]
    fn inheritance_takes_each_key_from_the_lowest_level() {
        let mut store = AttributeStore::new();
        let set = |store: &mut AttributeStore, at: &str, query: &[&str], numeric| {
            store.write(&path(at), &parse_query(query).unwrap(), numeric)
        };
        set(&mut store, "/3303", &["pmin=10", "pmax=60"], false).unwrap();
        set(&mut store, "/3303/0", &["pmax=30"], false).unwrap();
        set(&mut store, "/3303/0/5700", &["gt=25", "pmin=2"], true).unwrap();
        let effective = store.effective(&path("/3303/0/5700"));
        assert_eq!(effective.pmin, Some(2));
        assert_eq!(effective.pmax, Some(30));
        assert_eq!(effective.gt, Some(25.0));
        let sibling = store.effective(&path("/3303/0/5601"));
        assert_eq!(
            (sibling.pmin, sibling.pmax, sibling.gt),
            (Some(10), Some(30), None)
        );
        assert_eq!(store.effective(&path("/3303/1")).pmax, Some(60));
        // A bare key clears at its level only: the instance's pmax falls back to the object's.
        set(&mut store, "/3303/0", &["pmax"], false).unwrap();
        assert_eq!(store.effective(&path("/3303/0/5700")).pmax, Some(60));
        assert!(store.effective(&path("/3/0")).is_empty());
        store.remove_under(&path("/3303/0"));
        assert_eq!(store.effective(&path("/3303/0/5700")).gt, None);
        assert_eq!(store.effective(&path("/3303/0/5700")).pmin, Some(10));
    }

    #[test]
    fn conditions_only_on_numeric_resources_and_consistent() {
        let mut store = AttributeStore::new();
        let changes = parse_query(&["gt=5"]).unwrap();
        assert!(store.write(&path("/3303/0"), &changes, false).is_err());
        assert!(store.write(&path("/3/0/0"), &changes, false).is_err());
        assert!(store.write(&path("/3303/0/5700"), &changes, true).is_ok());
        // lt must stay below gt, also when set by a later request.
        let err = store
            .write(
                &path("/3303/0/5700"),
                &parse_query(&["lt=6"]).unwrap(),
                true,
            )
            .unwrap_err();
        assert_eq!(err.key, "lt");
        let err = store
            .write(
                &path("/3303/0/5700"),
                &parse_query(&["lt=1", "st=2"]).unwrap(),
                true,
            )
            .unwrap_err();
        assert_eq!(err.key, "st");
        assert_eq!(store.attached(&path("/3303/0/5700")).lt, None, "unchanged");
        store
            .write(
                &path("/3303/0/5700"),
                &parse_query(&["lt=1", "st=1.5"]).unwrap(),
                true,
            )
            .unwrap();
        assert_eq!(
            store.attached(&path("/3303/0/5700")).link_params(),
            "gt=5;lt=1;st=1.5"
        );
    }

    #[test]
    fn store_is_bounded() {
        let mut store = AttributeStore::new();
        let changes = parse_query(&["pmax=5"]).unwrap();
        for instance in 0..MAX_ATTRIBUTE_PATHS {
            let at = Lwm2mPath::instance(3303, u16::try_from(instance).unwrap());
            store.write(&at, &changes, false).unwrap();
        }
        let one_more = Lwm2mPath::instance(3304, 0);
        assert!(store.write(&one_more, &changes, false).is_err());
        // Clearing and rewriting existing paths still works.
        let at = Lwm2mPath::instance(3303, 0);
        store
            .write(&at, &parse_query(&["pmax"]).unwrap(), false)
            .unwrap();
        store.write(&one_more, &changes, false).unwrap();
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn finite() -> impl Strategy<Value = f64> {
            (-1.0e6f64..1.0e6).prop_map(|v| (v * 100.0).round() / 100.0)
        }

        proptest! {
            /// Attached attributes written as Discover shows them parse back to the same.
            #[test]
            fn link_params_round_trip(
                pmin in proptest::option::of(any::<u32>()),
                pmax in proptest::option::of(any::<u32>()),
                gt in proptest::option::of(finite()),
                st in proptest::option::of(0.0f64..1.0e3),
                epmin in proptest::option::of(0u32..1000),
            ) {
                let attributes = Attributes { pmin, pmax, gt, lt: None, st, epmin, epmax: None };
                let text = attributes.link_params();
                let items: Vec<&str> = text.split(';').filter(|s| !s.is_empty()).collect();
                let mut store = AttributeStore::new();
                let path = Lwm2mPath::resource(3303, 0, 5700);
                store.write(&path, &parse_query(&items).unwrap(), true).unwrap();
                prop_assert_eq!(store.attached(&path), attributes);
            }

            /// Any query text is accepted or refused with an error, never a panic.
            #[test]
            fn arbitrary_queries_never_panic(items in proptest::collection::vec(".{0,12}", 0..6)) {
                if let Ok(changes) = parse_query(&items) {
                    let mut store = AttributeStore::new();
                    let _ = store.write(&Lwm2mPath::resource(3, 0, 9), &changes, true);
                }
            }
        }
    }
}
