//! JSON Schema compatibility: Confluent's diff of two schemas into typed differences, judged
//! against the STRICT (default) or LENIENT set of compatible changes.
//!
//! `diff(original, update)` compares the two [`Model`]s node by node: same class → keyword
//! rules per class; class changes → the combined-type rescues (a schema becoming one branch of
//! an `anyOf`/`oneOf`, an `allOf` losing all but one branch), else `TYPE_CHANGED`. Objects follow
//! the open / partially open / closed content-model rules. BACKWARD compares (original = old,
//! update = new), FORWARD the reverse. The policy is threaded through the whole recursion, since
//! nested verdicts (combined matching, partial coverage, `not`) depend on it.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use serde_json::Value;

use super::model::{
    Additional, ArrayNode, Criterion, Kind, Model, NodeId, NumberNode, ObjectNode, StringNode,
};
use crate::compat::{Budget, Incompatibility, Wording};

/// STRICT (default) or LENIENT, as the `compatibilityPolicy` config names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Confluent's default set.
    #[default]
    Strict,
    /// Also accepts narrowing additional properties and adding optional properties to open models.
    Lenient,
}

impl Policy {
    /// The policy a `compatibilityPolicy` setting names: LENIENT (any case), else STRICT.
    pub fn from_setting(setting: Option<&str>) -> Policy {
        match setting {
            Some(policy) if policy.eq_ignore_ascii_case("LENIENT") => Policy::Lenient,
            _ => Policy::Strict,
        }
    }

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Strict => "STRICT",
            Policy::Lenient => "LENIENT",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = crate::Error;

    /// `STRICT` or `LENIENT`, in any case. Confluent's newer `LOGICAL` is refused rather than
    /// run as something it is not.
    fn from_str(raw: &str) -> crate::Result<Policy> {
        match raw.to_ascii_uppercase().as_str() {
            "STRICT" => Ok(Policy::Strict),
            "LENIENT" => Ok(Policy::Lenient),
            _ => Err(crate::Error::InvalidCompatibilityPolicy(raw.to_string())),
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change between two JSON schemas, as Confluent's diff names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The kind (`TYPE_CHANGED`, ...).
    pub kind: &'static str,
    /// `#/properties/a/maxLength`.
    pub path: String,
    /// The original side's fragment.
    pub original: Option<String>,
    /// The updated side's fragment.
    pub update: Option<String>,
    /// LENIENT accepts this one although its kind is not in the set (an optional property
    /// removed from a closed content model, Confluent PR #4292).
    pub lenient_exempt: bool,
}

impl Difference {
    /// Whether the change is compatible under `policy`.
    pub fn is_compatible(&self, policy: Policy) -> bool {
        is_compatible(self.kind, self.lenient_exempt, policy)
    }
}

fn is_compatible(kind: &str, lenient_exempt: bool, policy: Policy) -> bool {
    STRICT.contains(&kind)
        || policy == Policy::Lenient && (LENIENT_EXTRA.contains(&kind) || lenient_exempt)
}

/// A difference as the comparison finds it, with the nodes on either side. Sub-comparisons
/// (combined-type matching, rescue attempts) find and discard many; only kept ones are
/// rendered into a [`Difference`] with fragments.
#[derive(Clone, Debug)]
struct Found {
    kind: &'static str,
    path: String,
    original: Option<NodeId>,
    update: Option<NodeId>,
    lenient_exempt: bool,
}

impl Found {
    fn is_compatible(&self, policy: Policy) -> bool {
        is_compatible(self.kind, self.lenient_exempt, policy)
    }

    fn render(self, original: &Model, update: &Model) -> Difference {
        Difference {
            kind: self.kind,
            path: self.path,
            original: self.original.map(|id| original.fragment(id)),
            update: self.update.map(|id| update.fragment(id)),
            lenient_exempt: self.lenient_exempt,
        }
    }
}

const STRICT: &[&str] = &[
    "ID_CHANGED",
    "DESCRIPTION_CHANGED",
    "TITLE_CHANGED",
    "DEFAULT_CHANGED",
    "SCHEMA_REMOVED",
    "TYPE_EXTENDED",
    "MAX_LENGTH_INCREASED",
    "MAX_LENGTH_REMOVED",
    "MIN_LENGTH_DECREASED",
    "MIN_LENGTH_REMOVED",
    "PATTERN_REMOVED",
    "MAXIMUM_INCREASED",
    "MAXIMUM_REMOVED",
    "MINIMUM_DECREASED",
    "MINIMUM_REMOVED",
    "EXCLUSIVE_MAXIMUM_INCREASED",
    "EXCLUSIVE_MAXIMUM_REMOVED",
    "EXCLUSIVE_MINIMUM_DECREASED",
    "EXCLUSIVE_MINIMUM_REMOVED",
    "MULTIPLE_OF_REDUCED",
    "MULTIPLE_OF_REMOVED",
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
    "REQUIRED_ATTRIBUTE_REMOVED",
    "DEPENDENCY_ARRAY_NARROWED",
    "DEPENDENCY_ARRAY_REMOVED",
    "DEPENDENCY_SCHEMA_REMOVED",
    "MAX_PROPERTIES_INCREASED",
    "MAX_PROPERTIES_REMOVED",
    "MIN_PROPERTIES_DECREASED",
    "MIN_PROPERTIES_REMOVED",
    "ADDITIONAL_PROPERTIES_ADDED",
    "ADDITIONAL_PROPERTIES_EXTENDED",
    "UNEVALUATED_PROPERTIES_ADDED",
    "UNEVALUATED_PROPERTIES_EXTENDED",
    "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
    "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "MAX_ITEMS_INCREASED",
    "MAX_ITEMS_REMOVED",
    "MIN_ITEMS_DECREASED",
    "MIN_ITEMS_REMOVED",
    "UNIQUE_ITEMS_REMOVED",
    "MAX_CONTAINS_INCREASED",
    "MAX_CONTAINS_REMOVED",
    "MIN_CONTAINS_DECREASED",
    "MIN_CONTAINS_REMOVED",
    "ADDITIONAL_ITEMS_ADDED",
    "ADDITIONAL_ITEMS_EXTENDED",
    "UNEVALUATED_ITEMS_ADDED",
    "UNEVALUATED_ITEMS_EXTENDED",
    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "ENUM_ARRAY_EXTENDED",
    "COMBINED_TYPE_EXTENDED",
    "PRODUCT_TYPE_NARROWED",
    "SUM_TYPE_EXTENDED",
    "NOT_TYPE_NARROWED",
];

const LENIENT_EXTRA: &[&str] = &[
    "ADDITIONAL_PROPERTIES_NARROWED",
    "ADDITIONAL_PROPERTIES_REMOVED",
    "UNEVALUATED_PROPERTIES_NARROWED",
    "UNEVALUATED_PROPERTIES_REMOVED",
    "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
    "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
];

/// The incompatibilities of `update` against `original` under `policy`.
pub fn check(
    original: &Model,
    update: &Model,
    update_is_new: bool,
    policy: Policy,
    budget: &Budget,
) -> Vec<Incompatibility> {
    let wording = Wording { describe, hint };
    let found = compare(original, update, policy, budget);
    if budget.is_exhausted() {
        return Vec::new();
    }
    found
        .into_iter()
        .filter(|found| !found.is_compatible(policy))
        .map(|found| {
            let d = found.render(original, update);
            Incompatibility::from_difference(
                d.kind,
                d.path,
                (d.original, d.update),
                update_is_new,
                &wording,
            )
        })
        .collect()
}

/// Every difference between two schemas, compatible ones included.
pub fn diff(original: &Model, update: &Model, policy: Policy) -> Vec<Difference> {
    compare(original, update, policy, &Budget::unlimited())
        .into_iter()
        .map(|found| found.render(original, update))
        .collect()
}

fn compare(original: &Model, update: &Model, policy: Policy, budget: &Budget) -> Vec<Found> {
    let mut ctx = Context {
        original,
        update,
        policy,
        path: Vec::new(),
        stack: Vec::new(),
        diffs: Vec::new(),
        budget,
    };
    ctx.compare(Some(original.root), Some(update.root));
    ctx.diffs
}

struct Context<'a> {
    original: &'a Model,
    update: &'a Model,
    policy: Policy,
    path: Vec<String>,
    /// (original, update) pairs under comparison: re-entering one assumes compatibility.
    stack: Vec<(NodeId, NodeId)>,
    diffs: Vec<Found>,
    budget: &'a Budget,
}

impl<'a> Context<'a> {
    fn sub(&self) -> Context<'a> {
        Context {
            original: self.original,
            update: self.update,
            policy: self.policy,
            path: self.path.clone(),
            stack: self.stack.clone(),
            diffs: Vec::new(),
            budget: self.budget,
        }
    }

    fn is_compatible(&self) -> bool {
        self.diffs.iter().all(|d| d.is_compatible(self.policy))
    }

    fn path_string(&self) -> String {
        format!("#/{}", self.path.join("/"))
    }

    fn add(&mut self, kind: &'static str, o: Option<NodeId>, u: Option<NodeId>) {
        self.add_at(None, kind, o, u);
    }

    fn add_at(
        &mut self,
        keyword: Option<&str>,
        kind: &'static str,
        o: Option<NodeId>,
        u: Option<NodeId>,
    ) {
        let mut path = self.path_string();
        if let Some(keyword) = keyword {
            if !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(keyword);
        }
        self.diffs.push(Found {
            kind,
            path,
            original: o,
            update: u,
            lenient_exempt: false,
        });
    }

    fn enter(&mut self, segments: &[&str]) {
        self.path.extend(segments.iter().map(|s| s.to_string()));
    }

    fn leave(&mut self, count: usize) {
        self.path.truncate(self.path.len() - count);
    }

    fn o_kind(&self, id: NodeId) -> &'a Kind {
        &self.original.nodes[id].kind
    }

    fn u_kind(&self, id: NodeId) -> &'a Kind {
        &self.update.nodes[id].kind
    }

    fn compare(&mut self, o: Option<NodeId>, u: Option<NodeId>) {
        if !self.budget.spend(1 + self.stack.len() as u64 / 8) {
            return;
        }
        let (o, u) = match (o, u) {
            (None, None) => return,
            (None, Some(u)) => return self.add("SCHEMA_ADDED", None, Some(u)),
            (Some(o), None) => return self.add("SCHEMA_REMOVED", Some(o), None),
            (Some(o), Some(u)) => (deref(self.original, o), deref(self.update, u)),
        };
        let (o_kind, u_kind) = (self.o_kind(o), self.u_kind(u));

        // A schema that becomes a combined one: compatible if it fits one branch.
        if let (
            false,
            Kind::Combined {
                criterion,
                subschemas,
            },
        ) = (matches!(o_kind, Kind::Combined { .. }), u_kind)
        {
            if subschemas.len() == 1 {
                let mut sub = self.sub();
                sub.compare(Some(o), Some(subschemas[0]));
                if sub.is_compatible() {
                    self.diffs.extend(sub.diffs);
                    return;
                }
            } else if *criterion != Criterion::All {
                for branch in subschemas {
                    let mut sub = self.sub();
                    sub.compare(Some(o), Some(*branch));
                    if sub.is_compatible() {
                        self.diffs.extend(sub.diffs);
                        self.add("SUM_TYPE_EXTENDED", Some(o), Some(u));
                        return;
                    }
                }
            }
        } else if let (
            Kind::Combined {
                criterion,
                subschemas,
            },
            false,
        ) = (o_kind, matches!(u_kind, Kind::Combined { .. }))
        {
            // A combined schema that becomes a plain one: compatible if one branch of an allOf reads as it.
            if subschemas.len() == 1 {
                let mut sub = self.sub();
                sub.compare(Some(subschemas[0]), Some(u));
                if sub.is_compatible() {
                    self.diffs.extend(sub.diffs);
                    return;
                }
            } else if *criterion == Criterion::All {
                for branch in subschemas {
                    let mut sub = self.sub();
                    sub.compare(Some(*branch), Some(u));
                    if sub.is_compatible() {
                        self.diffs.extend(sub.diffs);
                        self.add("PRODUCT_TYPE_NARROWED", Some(o), Some(u));
                        return;
                    }
                }
            }
        }

        if o_kind.class() != u_kind.class() {
            // Anything may become `{}`/`true`; `false` may become anything.
            if matches!(o_kind, Kind::False) || matches!(u_kind, Kind::Empty) {
                return;
            }
            let connect_bytes = |model: &Model, id: NodeId| {
                model.nodes[id].meta.connect_type.as_deref() == Some("bytes")
            };
            if connect_bytes(self.original, o) && connect_bytes(self.update, u) {
                return;
            }
            self.add("TYPE_CHANGED", Some(o), Some(u));
            return;
        }

        if self.stack.contains(&(o, u)) {
            return;
        }
        self.stack.push((o, u));
        self.compare_meta(o, u);
        match (o_kind, u_kind) {
            (Kind::String(a), Kind::String(b)) => self.compare_string(a, b, o, u),
            (Kind::Number(a), Kind::Number(b)) => self.compare_number(a, b, o, u),
            (Kind::Const(a), Kind::Const(b)) if a != b => {
                self.add_at(Some("const"), "ENUM_ARRAY_CHANGED", Some(o), Some(u));
            }
            (Kind::Enum(a), Kind::Enum(b)) => self.compare_enum(a, b, o, u),
            (
                Kind::Combined {
                    criterion: oc,
                    subschemas: os,
                },
                Kind::Combined {
                    criterion: uc,
                    subschemas: us,
                },
            ) => self.compare_combined(*oc, os, *uc, us, o, u),
            (Kind::Not(a), Kind::Not(b)) => {
                self.enter(&["not"]);
                // Reversed: the update's `not` must reject at least what the original's rejected.
                let mut sub = self.sub();
                sub.original = self.update;
                sub.update = self.original;
                sub.stack.clear();
                sub.compare(Some(*b), Some(*a));
                let compatible = sub.is_compatible();
                self.leave(1);
                let kind = if compatible {
                    "NOT_TYPE_NARROWED"
                } else {
                    "NOT_TYPE_EXTENDED"
                };
                self.add_at(Some("not"), kind, Some(o), Some(u));
            }
            (Kind::Object(a), Kind::Object(b)) => self.compare_object(a, b, o, u),
            (Kind::Array(a), Kind::Array(b)) => self.compare_array(a, b, o, u),
            // Only an unresolved (or doubly indirect) reference stays a reference here.
            (Kind::Ref { raw: a, .. }, Kind::Ref { raw: b, .. }) if a != b => {
                self.add("TYPE_CHANGED", Some(o), Some(u));
            }
            _ => {}
        }
        self.stack.pop();
    }

    fn compare_meta(&mut self, o: NodeId, u: NodeId) {
        let (a, b) = (&self.original.nodes[o].meta, &self.update.nodes[u].meta);
        let changes = [
            (a.id != b.id, "ID_CHANGED"),
            (a.title != b.title, "TITLE_CHANGED"),
            (a.description != b.description, "DESCRIPTION_CHANGED"),
            (a.default != b.default, "DEFAULT_CHANGED"),
        ];
        for (changed, kind) in changes {
            if changed {
                self.add(kind, Some(o), Some(u));
            }
        }
    }

    /// A limit where a larger value accepts more (`max*`).
    fn upper_limit(
        &mut self,
        keyword: &str,
        a: Option<f64>,
        b: Option<f64>,
        kinds: [&'static str; 4],
        o: NodeId,
        u: NodeId,
    ) {
        let [added, removed, increased, decreased] = kinds;
        let kind = match (a, b) {
            (None, Some(_)) => added,
            (Some(_), None) => removed,
            (Some(a), Some(b)) if a < b => increased,
            (Some(a), Some(b)) if a > b => decreased,
            _ => return,
        };
        self.add_at(Some(keyword), kind, Some(o), Some(u));
    }

    fn compare_string(&mut self, a: &StringNode, b: &StringNode, o: NodeId, u: NodeId) {
        self.upper_limit(
            "maxLength",
            a.max_length,
            b.max_length,
            [
                "MAX_LENGTH_ADDED",
                "MAX_LENGTH_REMOVED",
                "MAX_LENGTH_INCREASED",
                "MAX_LENGTH_DECREASED",
            ],
            o,
            u,
        );
        self.upper_limit(
            "minLength",
            a.min_length,
            b.min_length,
            [
                "MIN_LENGTH_ADDED",
                "MIN_LENGTH_REMOVED",
                "MIN_LENGTH_INCREASED",
                "MIN_LENGTH_DECREASED",
            ],
            o,
            u,
        );
        let kind = match (&a.pattern, &b.pattern) {
            (None, Some(_)) => Some("PATTERN_ADDED"),
            (Some(_), None) => Some("PATTERN_REMOVED"),
            (Some(x), Some(y)) if x != y => Some("PATTERN_CHANGED"),
            _ => None,
        };
        if let Some(kind) = kind {
            self.add_at(Some("pattern"), kind, Some(o), Some(u));
        }
    }

    fn compare_number(&mut self, a: &NumberNode, b: &NumberNode, o: NodeId, u: NodeId) {
        self.upper_limit(
            "maximum",
            a.maximum,
            b.maximum,
            [
                "MAXIMUM_ADDED",
                "MAXIMUM_REMOVED",
                "MAXIMUM_INCREASED",
                "MAXIMUM_DECREASED",
            ],
            o,
            u,
        );
        self.upper_limit(
            "minimum",
            a.minimum,
            b.minimum,
            [
                "MINIMUM_ADDED",
                "MINIMUM_REMOVED",
                "MINIMUM_INCREASED",
                "MINIMUM_DECREASED",
            ],
            o,
            u,
        );
        // Confluent compares the old exclusiveMaximum with the new `maximum` (and fails without
        // one); the limits are compared with each other here, which gives the same verdict
        // wherever Confluent answers at all.
        self.upper_limit(
            "exclusiveMaximum",
            a.exclusive_maximum,
            b.exclusive_maximum,
            [
                "EXCLUSIVE_MAXIMUM_ADDED",
                "EXCLUSIVE_MAXIMUM_REMOVED",
                "EXCLUSIVE_MAXIMUM_INCREASED",
                "EXCLUSIVE_MAXIMUM_DECREASED",
            ],
            o,
            u,
        );
        self.upper_limit(
            "exclusiveMinimum",
            a.exclusive_minimum,
            b.exclusive_minimum,
            [
                "EXCLUSIVE_MINIMUM_ADDED",
                "EXCLUSIVE_MINIMUM_REMOVED",
                "EXCLUSIVE_MINIMUM_INCREASED",
                "EXCLUSIVE_MINIMUM_DECREASED",
            ],
            o,
            u,
        );
        let multiple = match (a.multiple_of, b.multiple_of) {
            (None, Some(_)) => Some("MULTIPLE_OF_ADDED"),
            (Some(_), None) => Some("MULTIPLE_OF_REMOVED"),
            (Some(x), Some(y)) if x != y => Some(if is_multiple(y, x) {
                "MULTIPLE_OF_EXPANDED"
            } else if is_multiple(x, y) {
                "MULTIPLE_OF_REDUCED"
            } else {
                "MULTIPLE_OF_CHANGED"
            }),
            _ => None,
        };
        if let Some(kind) = multiple {
            self.add_at(Some("multipleOf"), kind, Some(o), Some(u));
        }
        if a.integer != b.integer {
            self.add(
                if a.integer {
                    "TYPE_EXTENDED"
                } else {
                    "TYPE_NARROWED"
                },
                Some(o),
                Some(u),
            );
        }
    }

    fn compare_enum(&mut self, a: &[Value], b: &[Value], o: NodeId, u: NodeId) {
        let (a_set, b_set) = (value_set(a), value_set(b));
        let a_in_b = a_set.is_subset(&b_set);
        let b_in_a = b_set.is_subset(&a_set);
        let kind = match (a_in_b, b_in_a) {
            (true, true) => return,
            (true, false) => "ENUM_ARRAY_EXTENDED",
            (false, true) => "ENUM_ARRAY_NARROWED",
            (false, false) => "ENUM_ARRAY_CHANGED",
        };
        self.add_at(Some("enum"), kind, Some(o), Some(u));
    }

    fn compare_combined(
        &mut self,
        oc: Criterion,
        os: &[NodeId],
        uc: Criterion,
        us: &[NodeId],
        o: NodeId,
        u: NodeId,
    ) {
        if oc != uc {
            let extended = uc == Criterion::Any
                || (os.len() == 1 && us.len() == 1)
                || (os.len() == 1 && uc == Criterion::One)
                || (us.len() == 1 && oc == Criterion::All);
            if extended {
                self.add("COMBINED_TYPE_EXTENDED", Some(o), Some(u));
            } else {
                self.add("COMBINED_TYPE_CHANGED", Some(o), Some(u));
                return;
            }
        }
        // Identical branches on one side count once.
        let os = dedup_nodes(self.original, os);
        let us = dedup_nodes(self.update, us);
        if os.len() < us.len() {
            self.add(
                if uc == Criterion::All {
                    "PRODUCT_TYPE_EXTENDED"
                } else {
                    "SUM_TYPE_EXTENDED"
                },
                Some(o),
                Some(u),
            );
        } else if os.len() > us.len() {
            self.add(
                if oc == Criterion::All {
                    "PRODUCT_TYPE_NARROWED"
                } else {
                    "SUM_TYPE_NARROWED"
                },
                Some(o),
                Some(u),
            );
        }
        // Which original branch can become which updated branch, with the differences of each pairing.
        let mut edges: Vec<Vec<Option<Vec<Found>>>> = Vec::with_capacity(os.len());
        for (index, branch) in os.iter().enumerate() {
            self.enter(&[oc.keyword(), &index.to_string()]);
            let mut row = Vec::with_capacity(us.len());
            for candidate in &us {
                let mut sub = self.sub();
                sub.compare(Some(*branch), Some(*candidate));
                row.push(sub.is_compatible().then_some(sub.diffs));
            }
            edges.push(row);
            self.leave(2);
        }
        if !self.budget.spend((os.len() * us.len()) as u64) {
            return;
        }
        let matching = maximum_matching(&edges, us.len());
        let matched = matching.iter().filter(|m| m.is_some()).count();
        for (row, column) in matching.iter().enumerate() {
            if let Some(column) = column {
                if let Some(Some(diffs)) = edges[row].get(*column) {
                    self.diffs.extend(diffs.iter().cloned());
                }
            }
        }
        if matched < os.len().min(us.len()) {
            self.add("COMBINED_TYPE_SUBSCHEMAS_CHANGED", Some(o), Some(u));
        }
    }

    fn compare_object(&mut self, a: &ObjectNode, b: &ObjectNode, o: NodeId, u: NodeId) {
        // Required.
        let b_properties: HashMap<&str, NodeId> = b
            .properties
            .iter()
            .map(|(n, id)| (n.as_str(), *id))
            .collect();
        let a_required: HashSet<&str> = a.required.iter().map(String::as_str).collect();
        let b_required: HashSet<&str> = b.required.iter().map(String::as_str).collect();
        for (name, _) in &a.properties {
            let Some(property) = b_properties.get(name.as_str()).copied() else {
                continue;
            };
            let (was, is) = (
                a_required.contains(name.as_str()),
                b_required.contains(name.as_str()),
            );
            let kind = match (was, is) {
                (true, false) => "REQUIRED_ATTRIBUTE_REMOVED",
                (false, true) => {
                    if self.update.nodes[property].has_default {
                        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
                    } else {
                        "REQUIRED_ATTRIBUTE_ADDED"
                    }
                }
                _ => continue,
            };
            self.enter(&["required", name]);
            self.add(kind, Some(o), Some(u));
            self.leave(2);
        }

        // Properties.
        for (name, op, up) in paired(&a.properties, &b.properties) {
            self.enter(&["properties", name]);
            match (op.copied(), up.copied()) {
                (Some(op), None) => self.property_removed(a, b, name, op),
                (None, Some(up)) => self.property_added(a, b, name, up),
                (Some(op), Some(up)) => self.compare(Some(op), Some(up)),
                (None, None) => {}
            }
            self.leave(2);
        }

        // Dependencies.
        self.enter(&["dependencies"]);
        for (key, x, y) in paired(&a.dependency_arrays, &b.dependency_arrays) {
            let kind = match (x, y) {
                (Some(_), None) => "DEPENDENCY_ARRAY_REMOVED",
                (None, Some(_)) => "DEPENDENCY_ARRAY_ADDED",
                (Some(x), Some(y)) => {
                    let (x_set, y_set): (HashSet<&String>, HashSet<&String>) =
                        (x.iter().collect(), y.iter().collect());
                    let (x_in_y, y_in_x) = (x_set.is_subset(&y_set), y_set.is_subset(&x_set));
                    match (x_in_y, y_in_x) {
                        (true, true) => continue,
                        (true, false) => "DEPENDENCY_ARRAY_EXTENDED",
                        (false, true) => "DEPENDENCY_ARRAY_NARROWED",
                        (false, false) => "DEPENDENCY_ARRAY_CHANGED",
                    }
                }
                (None, None) => continue,
            };
            self.enter(&[key]);
            self.add(kind, Some(o), Some(u));
            self.leave(1);
        }
        for (key, x, y) in paired(&a.dependency_schemas, &b.dependency_schemas) {
            self.enter(&[key]);
            match (x.copied(), y.copied()) {
                (Some(x), None) => self.add("DEPENDENCY_SCHEMA_REMOVED", Some(x), None),
                (None, Some(y)) => self.add("DEPENDENCY_SCHEMA_ADDED", None, Some(y)),
                (Some(x), Some(y)) => self.compare(Some(x), Some(y)),
                (None, None) => {}
            }
            self.leave(1);
        }
        self.leave(1);

        // Additional properties.
        self.enter(&["additionalProperties"]);
        self.compare_additional(a.additional, b.additional, "PROPERTIES", o, u);
        self.leave(1);
        self.upper_limit(
            "maxProperties",
            a.max_properties,
            b.max_properties,
            [
                "MAX_PROPERTIES_ADDED",
                "MAX_PROPERTIES_REMOVED",
                "MAX_PROPERTIES_INCREASED",
                "MAX_PROPERTIES_DECREASED",
            ],
            o,
            u,
        );
        self.upper_limit(
            "minProperties",
            a.min_properties,
            b.min_properties,
            [
                "MIN_PROPERTIES_ADDED",
                "MIN_PROPERTIES_REMOVED",
                "MIN_PROPERTIES_INCREASED",
                "MIN_PROPERTIES_DECREASED",
            ],
            o,
            u,
        );
        self.enter(&["unevaluatedProperties"]);
        self.compare_unevaluated(a.unevaluated, b.unevaluated, "PROPERTIES");
        self.leave(1);
    }

    fn property_removed(&mut self, a: &ObjectNode, b: &ObjectNode, name: &str, op: NodeId) {
        if is_open_object(self.update, b) {
            self.add("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", Some(op), None);
        } else if let Some(partial) = partial_object(self.update, b, name) {
            self.coverage(
                op,
                partial,
                "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
            );
        } else if matches!(self.o_kind(op), Kind::False) {
            self.add(
                "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                Some(op),
                None,
            );
        } else {
            self.add("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", Some(op), None);
            // LENIENT accepts removing a property the original did not require.
            let optional = !a.required.iter().any(|r| r == name);
            if let Some(last) = self.diffs.last_mut() {
                last.lenient_exempt = optional;
            }
        }
    }

    fn property_added(&mut self, a: &ObjectNode, b: &ObjectNode, name: &str, up: NodeId) {
        let required = b.required.iter().any(|r| r == name);
        let with_default = self.update.nodes[up].has_default;
        if is_open_object(self.original, a) {
            let kind = if matches!(self.u_kind(up), Kind::Empty) {
                "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
            } else if !required {
                "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
            } else if with_default {
                "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
            } else {
                "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
            };
            self.add(kind, None, Some(up));
            return;
        }
        if let Some(partial) = partial_object(self.original, a, name) {
            self.coverage(
                partial,
                up,
                "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
            );
        }
        let kind = if !required {
            "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
        } else if with_default {
            "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
        } else {
            "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
        };
        self.add(kind, None, Some(up));
    }

    /// Whether a partially open content model's schema covers a property or item added or
    /// removed: the comparison's differences count, then the covered or not-covered marker.
    fn coverage(
        &mut self,
        original: NodeId,
        update: NodeId,
        covered: &'static str,
        not_covered: &'static str,
    ) {
        let mut sub = self.sub();
        sub.compare(Some(original), Some(update));
        let is_covered = sub.is_compatible();
        self.diffs.extend(sub.diffs);
        let kind = if is_covered { covered } else { not_covered };
        self.add(kind, Some(original), Some(update));
    }

    /// `additionalProperties` / `additionalItems`.
    fn compare_additional(
        &mut self,
        a: Additional,
        b: Additional,
        what: &str,
        o: NodeId,
        u: NodeId,
    ) {
        let kind = if a.permits != b.permits {
            match (what, b.permits) {
                ("PROPERTIES", true) => "ADDITIONAL_PROPERTIES_ADDED",
                ("PROPERTIES", false) => "ADDITIONAL_PROPERTIES_REMOVED",
                (_, true) => "ADDITIONAL_ITEMS_ADDED",
                (_, false) => "ADDITIONAL_ITEMS_REMOVED",
            }
        } else {
            match (a.schema, b.schema) {
                (None, Some(_)) => {
                    if what == "PROPERTIES" {
                        "ADDITIONAL_PROPERTIES_NARROWED"
                    } else {
                        "ADDITIONAL_ITEMS_NARROWED"
                    }
                }
                (Some(_), None) => {
                    if what == "PROPERTIES" {
                        "ADDITIONAL_PROPERTIES_EXTENDED"
                    } else {
                        "ADDITIONAL_ITEMS_EXTENDED"
                    }
                }
                (x, y) => return self.compare(x, y),
            }
        };
        self.add(kind, Some(o), Some(u));
    }

    fn compare_unevaluated(&mut self, a: Option<NodeId>, b: Option<NodeId>, what: &str) {
        let is_false = |model: &Model, id: NodeId| matches!(model.nodes[id].kind, Kind::False);
        let is_empty = |model: &Model, id: NodeId| matches!(model.nodes[id].kind, Kind::Empty);
        let suffix = match (a, b) {
            (None, None) => return,
            (None, Some(y)) => {
                if is_false(self.update, y) {
                    "REMOVED"
                } else {
                    "NARROWED"
                }
            }
            (Some(x), None) => {
                if is_false(self.original, x) {
                    "ADDED"
                } else {
                    "EXTENDED"
                }
            }
            (Some(x), Some(y)) => {
                let (xf, yf) = (is_false(self.original, x), is_false(self.update, y));
                let (xe, ye) = (is_empty(self.original, x), is_empty(self.update, y));
                if xf && !yf {
                    "ADDED"
                } else if !xf && yf {
                    "REMOVED"
                } else if xe && !ye {
                    "NARROWED"
                } else if !xe && ye {
                    "EXTENDED"
                } else {
                    return self.compare(Some(x), Some(y));
                }
            }
        };
        let kind = match (what, suffix) {
            ("PROPERTIES", "ADDED") => "UNEVALUATED_PROPERTIES_ADDED",
            ("PROPERTIES", "REMOVED") => "UNEVALUATED_PROPERTIES_REMOVED",
            ("PROPERTIES", "NARROWED") => "UNEVALUATED_PROPERTIES_NARROWED",
            ("PROPERTIES", _) => "UNEVALUATED_PROPERTIES_EXTENDED",
            (_, "ADDED") => "UNEVALUATED_ITEMS_ADDED",
            (_, "REMOVED") => "UNEVALUATED_ITEMS_REMOVED",
            (_, "NARROWED") => "UNEVALUATED_ITEMS_NARROWED",
            _ => "UNEVALUATED_ITEMS_EXTENDED",
        };
        self.add(kind, a, b);
    }

    fn compare_array(&mut self, a: &ArrayNode, b: &ArrayNode, o: NodeId, u: NodeId) {
        self.enter(&["items"]);
        self.compare(a.all_items, b.all_items);
        self.leave(1);

        let (a_items, b_items) = (
            a.tuple.clone().unwrap_or_default(),
            b.tuple.clone().unwrap_or_default(),
        );
        for index in 0..a_items.len().min(b_items.len()) {
            self.enter(&["items", &index.to_string()]);
            self.compare(Some(a_items[index]), Some(b_items[index]));
            self.leave(2);
        }
        for (index, removed) in a_items.iter().enumerate().skip(b_items.len()) {
            self.enter(&["items", &index.to_string()]);
            if is_open_array(self.update, b) {
                self.add("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", Some(*removed), None);
            } else if let Some(partial) = partial_array(self.update, b) {
                self.coverage(
                    *removed,
                    partial,
                    "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                );
            } else if matches!(self.o_kind(*removed), Kind::False) {
                self.add(
                    "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                    Some(*removed),
                    None,
                );
            } else {
                self.add(
                    "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                    Some(*removed),
                    None,
                );
            }
            self.leave(2);
        }
        for (index, added) in b_items.iter().enumerate().skip(a_items.len()) {
            self.enter(&["items", &index.to_string()]);
            if is_open_array(self.original, a) {
                let kind = if matches!(self.u_kind(*added), Kind::Empty) {
                    "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
                } else {
                    "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
                };
                self.add(kind, None, Some(*added));
            } else if let Some(partial) = partial_array(self.original, a) {
                self.coverage(
                    partial,
                    *added,
                    "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                );
            } else {
                self.add("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", None, Some(*added));
            }
            self.leave(2);
        }

        self.enter(&["additionalItems"]);
        self.compare_additional(a.additional, b.additional, "ITEMS", o, u);
        self.leave(1);
        self.enter(&["unevaluatedItems"]);
        self.compare_unevaluated(a.unevaluated, b.unevaluated, "ITEMS");
        self.leave(1);
        self.upper_limit(
            "maxItems",
            a.max_items,
            b.max_items,
            [
                "MAX_ITEMS_ADDED",
                "MAX_ITEMS_REMOVED",
                "MAX_ITEMS_INCREASED",
                "MAX_ITEMS_DECREASED",
            ],
            o,
            u,
        );
        self.upper_limit(
            "minItems",
            a.min_items,
            b.min_items,
            [
                "MIN_ITEMS_ADDED",
                "MIN_ITEMS_REMOVED",
                "MIN_ITEMS_INCREASED",
                "MIN_ITEMS_DECREASED",
            ],
            o,
            u,
        );
        if a.unique_items != b.unique_items {
            self.add_at(
                Some("uniqueItems"),
                if a.unique_items {
                    "UNIQUE_ITEMS_REMOVED"
                } else {
                    "UNIQUE_ITEMS_ADDED"
                },
                Some(o),
                Some(u),
            );
        }
        self.upper_limit(
            "maxContains",
            a.max_contains,
            b.max_contains,
            [
                "MAX_CONTAINS_ADDED",
                "MAX_CONTAINS_REMOVED",
                "MAX_CONTAINS_INCREASED",
                "MAX_CONTAINS_DECREASED",
            ],
            o,
            u,
        );
        self.upper_limit(
            "minContains",
            a.min_contains,
            b.min_contains,
            [
                "MIN_CONTAINS_ADDED",
                "MIN_CONTAINS_REMOVED",
                "MIN_CONTAINS_INCREASED",
                "MIN_CONTAINS_DECREASED",
            ],
            o,
            u,
        );
    }
}

/// One level of `$ref`, as Confluent unwraps it.
fn deref(model: &Model, id: NodeId) -> NodeId {
    match model.nodes[id].kind {
        Kind::Ref {
            target: Some(target),
            ..
        } => target,
        _ => id,
    }
}

/// `y` is a whole multiple of `x`.
fn is_multiple(y: f64, x: f64) -> bool {
    if x == 0.0 {
        return false;
    }
    let ratio = y / x;
    (ratio - ratio.round()).abs() < 1e-9
}

/// The keys of two keyed lists, sorted and unique, each with its value on
/// either side.
fn paired<'a, V>(
    a: &'a [(String, V)],
    b: &'a [(String, V)],
) -> Vec<(&'a str, Option<&'a V>, Option<&'a V>)> {
    // The first entry of a key wins, as a scan would find it.
    let index = |list: &'a [(String, V)]| {
        let mut map: HashMap<&'a str, &'a V> = HashMap::with_capacity(list.len());
        for (key, value) in list {
            map.entry(key.as_str()).or_insert(value);
        }
        map
    };
    let (in_a, in_b) = (index(a), index(b));
    let mut keys: Vec<&str> = in_a.keys().chain(in_b.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|k| (k, in_a.get(k).copied(), in_b.get(k).copied()))
        .collect()
}

/// Enum values as a set (by their JSON text, so that values compare as JSON does).
fn value_set(values: &[Value]) -> HashSet<String> {
    values.iter().map(Value::to_string).collect()
}

/// Open: additional properties allowed without a schema, no pattern properties, unevaluated open.
fn is_open_object(model: &Model, object: &ObjectNode) -> bool {
    object.additional.permits
        && object.additional.schema.is_none()
        && object.pattern_properties.is_empty()
        && object
            .unevaluated
            .is_none_or(|id| matches!(model.nodes[id].kind, Kind::Empty))
}

/// The schema a partially open object applies to a property name it does not declare.
fn partial_object(model: &Model, object: &ObjectNode, name: &str) -> Option<NodeId> {
    for (pattern, id) in &object.pattern_properties {
        // Patterns are searched, not anchored to the whole name.
        if regex_search(pattern, name) {
            return Some(*id);
        }
    }
    if let Some(schema) = object.additional.schema {
        return Some(schema);
    }
    match object.unevaluated {
        Some(id)
            if object.additional.permits
                && !matches!(model.nodes[id].kind, Kind::False | Kind::Empty) =>
        {
            Some(id)
        }
        _ => None,
    }
}

fn is_open_array(model: &Model, array: &ArrayNode) -> bool {
    array.additional.permits
        && array.additional.schema.is_none()
        && array
            .unevaluated
            .is_none_or(|id| matches!(model.nodes[id].kind, Kind::Empty))
}

fn partial_array(model: &Model, array: &ArrayNode) -> Option<NodeId> {
    if let Some(schema) = array.additional.schema {
        return Some(schema);
    }
    match array.unevaluated {
        Some(id)
            if array.additional.permits
                && !matches!(model.nodes[id].kind, Kind::False | Kind::Empty) =>
        {
            Some(id)
        }
        _ => None,
    }
}

fn regex_search(pattern: &str, text: &str) -> bool {
    match jsonschema::Validator::new(&serde_json::json!({ "type": "string", "pattern": pattern })) {
        Ok(validator) => validator.is_valid(&Value::String(text.to_string())),
        Err(_) => false,
    }
}

/// Branches with the same JSON count once.
fn dedup_nodes(model: &Model, ids: &[NodeId]) -> Vec<NodeId> {
    let mut seen: HashSet<String> = HashSet::with_capacity(ids.len());
    ids.iter()
        .copied()
        .filter(|id| seen.insert(model.text(*id)))
        .collect()
}

/// A maximum bipartite matching (augmenting paths): for each row, its matched column.
fn maximum_matching<T>(edges: &[Vec<Option<T>>], columns: usize) -> Vec<Option<usize>> {
    fn augment<T>(
        row: usize,
        edges: &[Vec<Option<T>>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for (column, edge) in edges[row].iter().enumerate() {
            if edge.is_none() || seen[column] {
                continue;
            }
            seen[column] = true;
            if owner[column].is_none_or(|other| augment(other, edges, seen, owner)) {
                owner[column] = Some(row);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; columns];
    for row in 0..edges.len() {
        let mut seen = vec![false; columns];
        augment(row, edges, &mut seen, &mut owner);
    }
    let mut matching = vec![None; edges.len()];
    for (column, row) in owner.iter().enumerate() {
        if let Some(row) = row {
            matching[*row] = Some(column);
        }
    }
    matching
}

fn describe(kind: &str, path: &str, update_side: &str, original_side: &str) -> String {
    let (u, o) = (update_side, original_side);
    match kind {
        k if k.ends_with("_ADDED")
            && (k.starts_with("MAX_")
                || k.starts_with("MIN_")
                || k.starts_with("EXCLUSIVE_")
                || k == "PATTERN_ADDED"
                || k == "MULTIPLE_OF_ADDED"
                || k.starts_with("DEPENDENCY_")
                || k == "UNIQUE_ITEMS_ADDED"
                || k == "REQUIRED_ATTRIBUTE_ADDED")
            || k == "ADDITIONAL_ITEMS_REMOVED"
            || k == "ADDITIONAL_PROPERTIES_REMOVED"
            || k.starts_with("UNEVALUATED_") && k.ends_with("_REMOVED") =>
        {
            format!(
                "The keyword at path '{path}' in the {u} schema is not present in the {o} schema"
            )
        }
        "MIN_LENGTH_INCREASED"
        | "MINIMUM_INCREASED"
        | "EXCLUSIVE_MINIMUM_INCREASED"
        | "MIN_PROPERTIES_INCREASED"
        | "MULTIPLE_OF_EXPANDED"
        | "MIN_ITEMS_INCREASED"
        | "MIN_CONTAINS_INCREASED" => {
            format!("The value at path '{path}' in the {u} schema is more than its value in the {o} schema")
        }
        k if k.starts_with("MAX_") && k.ends_with("_DECREASED")
            || k == "EXCLUSIVE_MAXIMUM_DECREASED" =>
        {
            format!("The value at path '{path}' in the {u} schema is less than its value in the {o} schema")
        }
        "PATTERN_CHANGED" | "MULTIPLE_OF_CHANGED" | "DEPENDENCY_ARRAY_CHANGED" => {
            format!("The value at path '{path}' is different between the {u} and {o} schema")
        }
        "ADDITIONAL_ITEMS_NARROWED"
        | "ENUM_ARRAY_NARROWED"
        | "SUM_TYPE_NARROWED"
        | "ADDITIONAL_PROPERTIES_NARROWED"
        | "UNEVALUATED_PROPERTIES_NARROWED"
        | "UNEVALUATED_ITEMS_NARROWED" => {
            format!("An array or combined type at path '{path}' has fewer elements in the {u} schema than the {o} schema")
        }
        "DEPENDENCY_ARRAY_EXTENDED"
        | "PRODUCT_TYPE_EXTENDED"
        | "SUM_TYPE_EXTENDED"
        | "NOT_TYPE_EXTENDED" => {
            format!("An array or combined type at path '{path}' has more elements in the {u} schema than the {o} schema")
        }
        "TYPE_CHANGED"
        | "TYPE_NARROWED"
        | "COMBINED_TYPE_CHANGED"
        | "COMBINED_TYPE_SUBSCHEMAS_CHANGED"
        | "ENUM_ARRAY_CHANGED" => {
            format!(
                "A type at path '{path}' is different between the {u} schema and the {o} schema"
            )
        }
        "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
        | "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
        | "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
        | "ITEM_ADDED_TO_OPEN_CONTENT_MODEL" => {
            format!("The {u} schema has an open content model and has a property or item at path '{path}' which is missing in the {o} schema")
        }
        "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" => {
            format!("The {u} schema has an unopen content model and has a required property at path '{path}' which is missing in the {o} schema")
        }
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" | "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" => {
            format!("The {u} schema has a closed content model and is missing a property or item present at path '{path}' in the {o} schema")
        }
        "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
        | "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" => {
            format!("A property or item is missing in the {u} schema but present at path '{path}' in the {o} schema and is not covered by its partially open content model")
        }
        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
        | "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL" => {
            format!("The {u} schema has a property or item at path '{path}' which is missing in the {o} schema and is not covered by its partially open content model")
        }
        other => format!("{other} at path '{path}' in the {u} schema"),
    }
}

fn hint(kind: &str) -> Option<String> {
    Some(
        match kind {
            "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" | "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" | "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL" => {
                "the old schema allows any property (an open content model), so old data may hold this name with another type; close the model with \"additionalProperties\": false, or use the LENIENT policy"
            }
            "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" | "REQUIRED_ATTRIBUTE_ADDED" => "give the new required property a default, or make it optional",
            "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL" => "keep the property, or set it to false to forbid it explicitly",
            "TYPE_CHANGED" => "keep the type, or widen it with anyOf/oneOf that includes the old type",
            "TYPE_NARROWED" => "number cannot become integer; keep number",
            "SCHEMA_ADDED" => "a constraint was added where there was none; old data may not satisfy it",
            "ENUM_ARRAY_NARROWED" | "ENUM_ARRAY_CHANGED" => "keep every old enum value",
            "ADDITIONAL_PROPERTIES_REMOVED" | "ADDITIONAL_PROPERTIES_NARROWED" => "old data may hold extra properties this schema no longer accepts",
            k if k.ends_with("_DECREASED") && k.starts_with("MAX") => "limits may only widen: keep or raise the maximum",
            k if k.ends_with("_INCREASED") && k.starts_with("MIN") => "limits may only widen: keep or lower the minimum",
            k if k.ends_with("_ADDED") && (k.starts_with("MAX") || k.starts_with("MIN") || k.starts_with("PATTERN") || k.starts_with("MULTIPLE")) => "a new constraint may reject old data; add it in a new field instead",
            _ => return None,
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonSchema;
    use serde_json::json;

    fn model(value: &Value) -> Model {
        JsonSchema::parse(&value.to_string(), &[])
            .unwrap_or_else(|e| panic!("{value}: {e}"))
            .model()
            .clone()
    }

    /// `compare(original, update)` as sorted `KIND path` strings.
    fn changes(original: Value, update: Value) -> Vec<String> {
        let mut found: Vec<String> = diff(&model(&original), &model(&update), Policy::Strict)
            .into_iter()
            .map(|d| format!("{} {}", d.kind, d.path))
            .collect();
        found.sort();
        found
    }

    fn compatible(original: &Value, update: &Value, policy: Policy) -> bool {
        diff(&model(original), &model(update), policy)
            .iter()
            .all(|d| d.is_compatible(policy))
    }

    #[test]
    fn rule_families() {
        let table: Vec<(Value, Value, Vec<&str>)> = vec![
            // types
            (
                json!({"type": "object"}),
                json!({"type": "array"}),
                vec!["TYPE_CHANGED #/"],
            ),
            (
                json!({"type": "integer"}),
                json!({"type": "number"}),
                vec!["TYPE_EXTENDED #/"],
            ),
            (
                json!({"type": "number"}),
                json!({"type": "integer"}),
                vec!["TYPE_NARROWED #/"],
            ),
            (json!({"type": "string"}), json!({}), vec![]),
            (json!({"type": "string"}), json!(true), vec![]),
            (json!(false), json!({"type": "string"}), vec![]),
            (
                json!({}),
                json!({"type": "string"}),
                vec!["TYPE_CHANGED #/"],
            ),
            // strings
            (
                json!({"type": "string", "maxLength": 5}),
                json!({"type": "string", "maxLength": 3}),
                vec!["MAX_LENGTH_DECREASED #/maxLength"],
            ),
            (
                json!({"type": "string"}),
                json!({"type": "string", "minLength": 1}),
                vec!["MIN_LENGTH_ADDED #/minLength"],
            ),
            (
                json!({"type": "string", "pattern": "a"}),
                json!({"type": "string"}),
                vec!["PATTERN_REMOVED #/pattern"],
            ),
            // numbers
            (
                json!({"type": "number", "maximum": 5}),
                json!({"type": "number", "maximum": 9}),
                vec!["MAXIMUM_INCREASED #/maximum"],
            ),
            (
                json!({"type": "number", "minimum": 5}),
                json!({"type": "number", "minimum": 9}),
                vec!["MINIMUM_INCREASED #/minimum"],
            ),
            (
                json!({"type": "number", "exclusiveMaximum": 5}),
                json!({"type": "number", "exclusiveMaximum": 4}),
                vec!["EXCLUSIVE_MAXIMUM_DECREASED #/exclusiveMaximum"],
            ),
            (
                json!({"type": "number", "multipleOf": 10}),
                json!({"type": "number", "multipleOf": 2}),
                vec!["MULTIPLE_OF_REDUCED #/multipleOf"],
            ),
            (
                json!({"type": "number", "multipleOf": 2}),
                json!({"type": "number", "multipleOf": 10}),
                vec!["MULTIPLE_OF_EXPANDED #/multipleOf"],
            ),
            // enums and const
            (
                json!({"enum": ["a"]}),
                json!({"enum": ["a", "b"]}),
                vec!["ENUM_ARRAY_EXTENDED #/enum"],
            ),
            (
                json!({"enum": ["a", "b"]}),
                json!({"enum": ["a"]}),
                vec!["ENUM_ARRAY_NARROWED #/enum"],
            ),
            (
                json!({"const": 1}),
                json!({"const": 2}),
                vec!["ENUM_ARRAY_CHANGED #/const"],
            ),
            (
                json!({"type": "string", "enum": ["red"]}),
                json!({"type": "string"}),
                vec!["PRODUCT_TYPE_NARROWED #/"],
            ),
            (
                json!({"type": "string"}),
                json!({"type": "string", "enum": ["red"]}),
                vec!["TYPE_CHANGED #/"],
            ),
            // combined
            (
                json!({"type": "string", "maxLength": 3}),
                json!({"oneOf": [{"type": "number"}, {"type": "string"}]}),
                vec!["MAX_LENGTH_REMOVED #/maxLength", "SUM_TYPE_EXTENDED #/"],
            ),
            (
                json!({"type": "string"}),
                json!({"allOf": [{"type": "number"}, {"type": "string"}]}),
                vec!["TYPE_CHANGED #/"],
            ),
            (
                json!({"oneOf": [{"type": "number"}, {"type": "string"}]}),
                json!({"anyOf": [{"type": "string"}]}),
                vec!["COMBINED_TYPE_EXTENDED #/", "SUM_TYPE_NARROWED #/"],
            ),
            (
                json!({"anyOf": [{"type": "number"}, {"type": "string"}]}),
                json!({"anyOf": [{"type": "number"}, {"type": "boolean"}]}),
                vec!["COMBINED_TYPE_SUBSCHEMAS_CHANGED #/"],
            ),
            (
                json!({"type": ["string", "null"]}),
                json!({"type": ["string", "null", "integer"]}),
                vec!["SUM_TYPE_EXTENDED #/"],
            ),
            (
                json!({"not": {"type": "number"}}),
                json!({"not": {"type": "integer"}}),
                vec!["NOT_TYPE_NARROWED #/not"],
            ),
            (
                json!({"not": {"type": "integer"}}),
                json!({"not": {"type": "number"}}),
                vec!["NOT_TYPE_EXTENDED #/not"],
            ),
            // objects
            (
                json!({"properties": {"foo": {"type": "string"}}}),
                json!({"properties": {"foo": {"type": "string"}}, "required": ["foo"]}),
                vec!["REQUIRED_ATTRIBUTE_ADDED #/required/foo"],
            ),
            (
                json!({"properties": {"foo": {"type": "string"}}, "required": ["foo"]}),
                json!({"properties": {"foo": {"type": "string"}}}),
                vec!["REQUIRED_ATTRIBUTE_REMOVED #/required/foo"],
            ),
            (
                json!({"properties": {"foo": {"type": "string"}}}),
                json!({"properties": {"foo": {"type": "string"}, "bar": {}}}),
                vec!["PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL #/properties/bar"],
            ),
            (
                json!({"additionalProperties": true}),
                json!({"additionalProperties": {"type": "number"}}),
                vec!["ADDITIONAL_PROPERTIES_NARROWED #/additionalProperties"],
            ),
            (
                json!({"additionalProperties": false}),
                json!({"additionalProperties": true}),
                vec!["ADDITIONAL_PROPERTIES_ADDED #/additionalProperties"],
            ),
            (
                json!({"type": "object", "properties": {"I_1": {"type": "integer"}}, "additionalProperties": false}),
                json!({"type": "object", "patternProperties": {"^I_": {"type": "number"}}}),
                vec![
                    "ADDITIONAL_PROPERTIES_ADDED #/additionalProperties",
                    "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL #/properties/I_1",
                    "TYPE_EXTENDED #/properties/I_1",
                ],
            ),
            (
                json!({"type": "object", "dependencies": {"a": ["b"]}}),
                json!({"type": "object", "dependencies": {"a": ["b", "c"]}}),
                vec!["DEPENDENCY_ARRAY_EXTENDED #/dependencies/a"],
            ),
            // arrays
            (
                json!({"type": "array"}),
                json!({"type": "array", "items": {"type": "string"}}),
                vec!["SCHEMA_ADDED #/items"],
            ),
            (
                json!({"type": "array", "items": {"type": "string"}}),
                json!({"type": "array"}),
                vec!["SCHEMA_REMOVED #/items"],
            ),
            (
                json!({"type": "array", "items": [{"type": "string"}], "additionalItems": false}),
                json!({"type": "array", "items": [{"type": "string"}, {"type": "number"}], "additionalItems": false}),
                vec!["ITEM_ADDED_TO_CLOSED_CONTENT_MODEL #/items/1"],
            ),
            (
                json!({"type": "array", "uniqueItems": true}),
                json!({"type": "array"}),
                vec!["UNIQUE_ITEMS_REMOVED #/uniqueItems"],
            ),
            // references
            (
                json!({"type": "string"}),
                json!({"$ref": "#/definitions/s", "definitions": {"s": {"type": "string"}}}),
                vec![],
            ),
        ];
        for (original, update, expected) in table {
            let mut expected: Vec<String> = expected.into_iter().map(str::to_string).collect();
            expected.sort();
            assert_eq!(
                changes(original.clone(), update.clone()),
                expected,
                "{original} => {update}"
            );
        }
    }

    /// All 24 combinations of open/closed model × property added/removed × required, required
    /// with a default, optional × STRICT/LENIENT (Confluent PR #4292 found two of them wrong).
    #[test]
    fn content_model_table() {
        let property = |default: bool| {
            if default {
                json!({"type": "string", "default": "x"})
            } else {
                json!({"type": "string"})
            }
        };
        let schema = |closed: bool, with_b: Option<(bool, bool)>| {
            let mut properties = json!({"a": {"type": "string"}});
            let mut required = vec![json!("a")];
            if let Some((is_required, default)) = with_b {
                properties["b"] = property(default);
                if is_required {
                    required.push(json!("b"));
                }
            }
            let mut value =
                json!({"type": "object", "properties": properties, "required": required});
            if closed {
                value["additionalProperties"] = json!(false);
            }
            value
        };
        // (operation, closed, required, default) -> (STRICT, LENIENT)
        let table = [
            ("add", false, true, false, false, false),
            ("add", false, true, true, false, true),
            ("add", false, false, false, false, true),
            ("add", true, true, false, false, false),
            ("add", true, true, true, true, true),
            ("add", true, false, false, true, true),
            ("remove", false, true, false, true, true),
            ("remove", false, true, true, true, true),
            ("remove", false, false, false, true, true),
            ("remove", true, true, false, false, false),
            ("remove", true, true, true, false, false),
            ("remove", true, false, false, false, true),
        ];
        for (operation, closed, required, default, strict, lenient) in table {
            let without = schema(closed, None);
            let with = schema(closed, Some((required, default)));
            let (old, new) = if operation == "add" {
                (&without, &with)
            } else {
                (&with, &without)
            };
            for (policy, expected) in [(Policy::Strict, strict), (Policy::Lenient, lenient)] {
                assert_eq!(
                    compatible(old, new, policy),
                    expected,
                    "{operation} a {} property to a {} model under {policy:?}",
                    match (required, default) {
                        (true, true) => "required-with-default",
                        (true, false) => "required",
                        _ => "optional",
                    },
                    if closed { "closed" } else { "open" }
                );
            }
        }
    }

    #[test]
    fn recursive_references_terminate() {
        let tree = json!({"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#"}}}});
        assert_eq!(changes(tree.clone(), tree.clone()), Vec::<String>::new());
        let widened = json!({"type": "object", "properties": {"value": {"type": "number"}, "children": {"type": "array", "items": {"$ref": "#"}}}});
        assert_eq!(
            changes(tree, widened),
            vec!["TYPE_EXTENDED #/properties/value"]
        );
    }

    /// Golden messages: what a developer reads in a failed check.
    #[test]
    fn golden_messages() {
        let old = model(&json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        let new = model(
            &json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}),
        );
        let found = check(&old, &new, true, Policy::Strict, &Budget::unlimited());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message(),
            "{errorType:'OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL', description:'The new schema has an open content model and has a property or item at path '#/properties/b' which is missing in the old schema', additionalInfo:'', newSchema:'{\"type\":\"integer\"}', hint:'the old schema allows any property (an open content model), so old data may hold this name with another type; close the model with \"additionalProperties\": false, or use the LENIENT policy'}"
        );
        let narrowed = model(
            &json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}}),
        );
        let found = check(&old, &narrowed, true, Policy::Strict, &Budget::unlimited());
        assert_eq!(
            found[0].message(),
            "{errorType:'MAX_LENGTH_ADDED', description:'The keyword at path '#/properties/a/maxLength' in the new schema is not present in the old schema', additionalInfo:'', oldSchema:'{\"type\":\"string\"}', newSchema:'{\"type\":\"string\",\"maxLength\":3}', hint:'a new constraint may reject old data; add it in a new field instead'}"
        );
    }
}
