//! Schema changes, the kind a team makes between two versions: fields added or removed with
//! or without defaults, types changed, widened or narrowed, names changed with or without
//! aliases, enum symbols added or removed, types made nullable or not, union branches added
//! or removed, fixed sizes and decimal precisions changed.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::arb;
use crate::model::{Def, Field, FixedKind, Logical, Model, Ty};

/// One change: its kind, what it applies to, and a parameter.
pub(crate) type Change = (u8, Index, Index, u8);

pub(crate) fn changes() -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec(
        (any::<u8>(), any::<Index>(), any::<Index>(), any::<u8>()),
        1..4,
    )
}

/// `model` with `changes` made, and what they were (for messages).
pub(crate) fn apply(model: &Model, changes: &[Change]) -> (Model, Vec<String>) {
    let mut m = model.clone();
    let mut log = Vec::new();
    for (n, &(kind, target, at, param)) in changes.iter().enumerate() {
        if let Some(done) = change(&mut m, n, kind, target, at, param) {
            log.push(done);
        }
    }
    normalize(&mut m);
    refresh_defaults(&mut m);
    (m, log)
}

fn records(m: &Model) -> Vec<usize> {
    (0..m.defs.len())
        .filter(|i| matches!(m.defs[*i], Def::Record { .. }))
        .collect()
}

fn fields_mut(m: &mut Model, record: usize) -> &mut Vec<Field> {
    match &mut m.defs[record] {
        Def::Record { fields, .. } => fields,
        _ => unreachable!("records() lists records only"),
    }
}

/// A leaf type for a parameter: a primitive or a logical type.
fn leaf(param: u8) -> Ty {
    let all = [
        Ty::Boolean,
        Ty::Int,
        Ty::Long,
        Ty::Float,
        Ty::Double,
        Ty::Bytes,
        Ty::String,
    ];
    let i = usize::from(param) % (all.len() + Logical::ALL.len());
    all.get(i)
        .cloned()
        .unwrap_or_else(|| Ty::Logical(Logical::ALL[i - all.len()]))
}

fn change(
    m: &mut Model,
    n: usize,
    kind: u8,
    target: Index,
    at: Index,
    param: u8,
) -> Option<String> {
    let recs = records(m);
    let r = recs[target.index(recs.len())];
    let record_name = m.defs[r].name().to_owned();
    let field_count = fields_mut(m, r).len();
    let field = (field_count > 0).then(|| at.index(field_count));
    Some(match kind % 14 {
        0 | 1 => {
            let with_default = kind.is_multiple_of(14);
            let ty = leaf(param);
            let default = with_default
                .then(|| {
                    arb::minimal(m, &ty, u64::from(param), 6).and_then(|v| arb::json_of(m, &ty, &v))
                })
                .flatten();
            fields_mut(m, r).push(Field {
                name: format!("n{n}"),
                aliases: Vec::new(),
                ty: ty.clone(),
                default: default.clone(),
            });
            format!("{record_name}: field n{n} of {ty:?} added, default {default:?}")
        }
        2 => {
            let f = fields_mut(m, r).remove(field?);
            format!("{record_name}: field {} removed", f.name)
        }
        3 => {
            let f = field?;
            let (ty, had) = {
                let fl = &fields_mut(m, r)[f];
                (fl.ty.clone(), fl.default.is_some())
            };
            let default = if had {
                None
            } else {
                arb::minimal(m, &ty, u64::from(param), 6).and_then(|v| arb::json_of(m, &ty, &v))
            };
            let fl = &mut fields_mut(m, r)[f];
            fl.default = default;
            format!(
                "{record_name}.{}: default {}",
                fl.name,
                if had { "removed" } else { "added" }
            )
        }
        4 | 5 | 11 | 12 => {
            let f = &mut fields_mut(m, r)[field?];
            let name = f.name.clone();
            let k = at.index(size(&f.ty));
            let node = nth(&mut f.ty, k)?;
            let before = format!("{node:?}");
            match kind % 14 {
                4 if is_leaf(node) => *node = leaf(param),
                5 => *node = widen_or_narrow(node)?,
                11 => match &mut *node {
                    Ty::Union(branches) if branches.len() == 2 && branches[0] == Ty::Null => {
                        *node = branches[1].clone();
                    }
                    Ty::Union(_) => return None,
                    other => {
                        let inner: Ty = other.clone();
                        *other = Ty::Union(vec![Ty::Null, inner]);
                    }
                },
                12 => match &mut *node {
                    Ty::Union(branches) if param.is_multiple_of(2) => {
                        branches.push(leaf(param / 2))
                    }
                    Ty::Union(branches) if branches.len() > 1 => {
                        branches.remove(usize::from(param / 2) % branches.len());
                    }
                    _ => return None,
                },
                _ => return None,
            }
            format!("{record_name}.{name}: {before} became {node:?}")
        }
        6 | 7 => {
            let f = &mut fields_mut(m, r)[field?];
            let renamed = format!("{}_r{n}", f.name);
            let old = std::mem::replace(&mut f.name, renamed);
            if kind % 14 == 6 {
                f.aliases.push(old.clone());
            }
            format!(
                "{record_name}.{old} renamed {}{}",
                f.name,
                if kind % 14 == 6 { " with an alias" } else { "" }
            )
        }
        8 | 9 => {
            let d = at.index(m.defs.len());
            let old = m.defs[d].name().to_owned();
            *m.defs[d].name_mut() = format!("{old}r{n}");
            if kind % 14 == 8 {
                m.defs[d].aliases_mut().push(old.clone());
            }
            format!(
                "type {old} renamed {old}r{n}{}",
                if kind % 14 == 8 { " with an alias" } else { "" }
            )
        }
        10 => {
            let d = at.index(m.defs.len());
            let Def::Enum {
                symbols,
                default,
                name,
                ..
            } = &mut m.defs[d]
            else {
                return None;
            };
            match param % 3 {
                0 if symbols.len() < 6 => {
                    symbols.push(["E", "F", "G", "H", "I", "J"][symbols.len()].to_owned())
                }
                1 if symbols.len() > 1 && default.as_ref() != symbols.last() => {
                    symbols.pop();
                }
                2 => {
                    *default = if default.is_some() {
                        None
                    } else {
                        Some(symbols[0].clone())
                    }
                }
                _ => return None,
            }
            format!("enum {name}: symbols {symbols:?}, default {default:?}")
        }
        _ => {
            let d = at.index(m.defs.len());
            let Def::Fixed {
                size, kind, name, ..
            } = &mut m.defs[d]
            else {
                return None;
            };
            match kind {
                FixedKind::Plain => *size = (*size + 1 + usize::from(param % 2)) % 20,
                FixedKind::Decimal { precision, scale } => {
                    *precision = (*precision + 1).max(*scale);
                }
                _ => return None,
            }
            format!("fixed {name}: size {size}, {kind:?}")
        }
    })
}

fn is_leaf(t: &Ty) -> bool {
    !matches!(t, Ty::Array(_) | Ty::Map(_) | Ty::Union(_) | Ty::Named(_))
}

fn widen_or_narrow(t: &Ty) -> Option<Ty> {
    Some(match t {
        Ty::Int => Ty::Long,
        Ty::Long => Ty::Int,
        Ty::Float => Ty::Double,
        Ty::Double => Ty::Float,
        Ty::String => Ty::Bytes,
        Ty::Bytes => Ty::String,
        Ty::Logical(Logical::Date) => Ty::Logical(Logical::TimestampMillis),
        Ty::Logical(Logical::TimestampMillis) => Ty::Logical(Logical::TimestampMicros),
        _ => return None,
    })
}

/// How many positions `t` has (itself and every type inside it, named types not entered).
fn size(t: &Ty) -> usize {
    1 + match t {
        Ty::Array(i) | Ty::Map(i) => size(i),
        Ty::Union(b) => b.iter().map(size).sum(),
        _ => 0,
    }
}

/// The type at position `k` of `t`, in pre-order.
fn nth(t: &mut Ty, k: usize) -> Option<&mut Ty> {
    fn walk<'a>(t: &'a mut Ty, k: &mut usize) -> Option<&'a mut Ty> {
        if *k == 0 {
            return Some(t);
        }
        *k -= 1;
        match t {
            Ty::Array(i) | Ty::Map(i) => walk(i, k),
            Ty::Union(branches) => {
                for b in branches.iter_mut() {
                    if let Some(found) = walk(b, k) {
                        return Some(found);
                    }
                }
                None
            }
            _ => None,
        }
    }
    let mut k = k;
    walk(t, &mut k)
}

/// Flattens unions in unions and drops branches of a kind a union already has.
fn normalize(m: &mut Model) {
    fn kind(defs: &[Def], t: &Ty) -> String {
        match t {
            Ty::Logical(l) => format!("{:?}", l.base()),
            Ty::Array(_) => "array".into(),
            Ty::Map(_) => "map".into(),
            Ty::Named(i) => defs[*i].name().to_owned(),
            other => format!("{other:?}"),
        }
    }
    fn fix(defs: &[Def], t: &mut Ty) {
        match t {
            Ty::Array(i) | Ty::Map(i) => fix(defs, i),
            Ty::Union(branches) => {
                let mut out: Vec<Ty> = Vec::new();
                let mut kinds = Vec::new();
                for b in std::mem::take(branches).into_iter().flat_map(|b| match b {
                    Ty::Union(inner) => inner,
                    other => vec![other],
                }) {
                    let k = kind(defs, &b);
                    if !kinds.contains(&k) {
                        kinds.push(k);
                        out.push(b);
                    }
                }
                out.iter_mut().for_each(|b| fix(defs, b));
                *branches = out;
            }
            _ => {}
        }
    }
    let defs = m.defs.clone();
    for d in &mut m.defs {
        if let Def::Record { fields, .. } = d {
            for f in fields {
                fix(&defs, &mut f.ty);
            }
        }
    }
}

/// Gives every field that has a default one that fits its (possibly changed) type.
fn refresh_defaults(m: &mut Model) {
    for r in records(m) {
        for i in 0..fields_mut(m, r).len() {
            let f = &fields_mut(m, r)[i];
            if f.default.is_none() {
                continue;
            }
            let ty = f.ty.clone();
            let default = arb::minimal(m, &ty, 0, 6).and_then(|v| arb::json_of(m, &ty, &v));
            fields_mut(m, r)[i].default = default;
        }
    }
}
