//! The guard against losing identities: a new set that is empty, or that would remove more than
//! a configured share of the identities in force, is refused and the index in force stays.
//!
//! A truncated export, a file emptied by mistake (`echo '[]' > identities.json`) or an API that
//! answers a pass with no identities would otherwise lock every device out with one INFO line.
//! The guard applies to every source (the file, the OpenAPI, and the snapshot at start-up). With
//! no identity in force (start-up), the share rule cannot apply; the empty rule still does.
//!
//! Topic rules get the empty rule too ([`Guard::check_set`]): a set with no rule may not
//! replace rules in force (every topic would fall to `no_match`: all refused, or all allowed),
//! unless `allow_empty`. A first set without rules (nothing in force) is taken.

use std::collections::HashSet;

use mqid_core::{Identity, IdentityType, Index, Permission};

use crate::Loaded;

/// `[auth] allow_empty` and `[auth] max_removal_percent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    /// Whether a set with no identity may replace the index (the share rule does not apply
    /// to it then).
    pub allow_empty: bool,
    /// The largest share of the identities in force, in percent, that one new set may remove;
    /// 100 = any.
    pub max_removal_percent: u32,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            allow_empty: false,
            max_removal_percent: 50,
        }
    }
}

/// Why a new set was refused. Names the setting that allows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "it holds no identity, which would refuse every device; refused ([auth] allow_empty = \
         true accepts an empty set)"
    )]
    Empty,
    #[error(
        "it would remove {removed} of the {in_force} identities in force, more than [auth] \
         max_removal_percent = {max_percent} allows; refused (for a deliberate mass removal, \
         raise max_removal_percent)"
    )]
    TooManyRemoved {
        removed: usize,
        in_force: usize,
        max_percent: u32,
    },
    #[error(
        "it holds no topic rule where {in_force} are in force, which would leave every topic to \
         no_match; refused ([auth] allow_empty = true accepts an empty set)"
    )]
    NoRules { in_force: usize },
}

fn key(id: &Identity) -> (IdentityType, &str, &str) {
    match id.identity_type {
        IdentityType::User => (IdentityType::User, id.username.as_str(), ""),
        IdentityType::Client => (
            IdentityType::Client,
            id.username.as_str(),
            id.client_id.as_deref().unwrap_or(""),
        ),
    }
}

impl Guard {
    /// Whether the set `new` may replace `in_force`: its identities ([`check`](Self::check)),
    /// then its topic rules ([`check_rules`](Self::check_rules)).
    pub fn check_set(&self, in_force: &Index, new: &Loaded) -> Result<(), Refused> {
        self.check(in_force, &new.identities)?;
        self.check_rules(in_force, new.permissions.as_deref())
    }

    /// Whether the topic rules `new` (`None`: the source carries none) may replace those of
    /// `in_force`: an empty list may not replace rules in force, unless `allow_empty`.
    pub fn check_rules(&self, in_force: &Index, new: Option<&[Permission]>) -> Result<(), Refused> {
        let in_force = in_force.permissions().map_or(0, |p| p.len());
        match new {
            Some([]) if in_force > 0 && !self.allow_empty => Err(Refused::NoRules { in_force }),
            _ => Ok(()),
        }
    }

    /// Whether `new` may replace the identities of `in_force`.
    pub fn check(&self, in_force: &Index, new: &[Identity]) -> Result<(), Refused> {
        if new.is_empty() {
            // allowed, an empty set is taken whatever it removes (all of it, by definition)
            return if self.allow_empty {
                Ok(())
            } else {
                Err(Refused::Empty)
            };
        }
        let total = in_force.len();
        if total == 0 || self.max_removal_percent >= 100 {
            return Ok(());
        }
        let kept: HashSet<_> = new.iter().map(key).collect();
        let removed = in_force
            .identities()
            .filter(|id| !kept.contains(&key(id)))
            .count();
        if removed as u128 * 100 > u128::from(self.max_removal_percent) * total as u128 {
            return Err(Refused::TooManyRemoved {
                removed,
                in_force: total,
                max_percent: self.max_removal_percent,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<Identity> {
        let records: Vec<String> = names
            .iter()
            .map(|n| {
                format!(
                    r#"{{"Username":"{n}","Secret":"s","IdentityType":"USER","SignMode":"ORIGIN"}}"#
                )
            })
            .collect();
        mqid_core::parse_identity_list(format!("[{}]", records.join(",")).as_bytes()).unwrap()
    }

    fn index(names: &[&str]) -> Index {
        Index::build(ids(names), Vec::<String>::new()).0
    }

    fn rules(n: usize) -> Vec<Permission> {
        let records: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"Identity":"a","IdentityType":"USER","Topic":"t/{i}","PermitAction":"PUB","Effect":"ALLOW"}}"#
                )
            })
            .collect();
        mqid_core::parse_permission_list(format!("[{}]", records.join(",")).as_bytes()).unwrap()
    }

    #[test]
    fn an_empty_rule_set_may_not_replace_rules_in_force() {
        let g = Guard::default();
        let with =
            |n| index(&["a"]).with_permissions(Some(mqid_core::Permissions::build(rules(n))));
        assert_eq!(
            g.check_rules(&with(2), Some(&[])),
            Err(Refused::NoRules { in_force: 2 })
        );
        assert!(Refused::NoRules { in_force: 2 }
            .to_string()
            .contains("allow_empty"));
        // rules in force replaced by others, or dropped by a source that carries none: taken
        assert_eq!(g.check_rules(&with(2), Some(&rules(1))), Ok(()));
        assert_eq!(g.check_rules(&with(2), None), Ok(()));
        // nothing in force (start-up, or an empty set in force): an empty set is taken
        assert_eq!(g.check_rules(&index(&["a"]), Some(&[])), Ok(()));
        assert_eq!(g.check_rules(&with(0), Some(&[])), Ok(()));
        let allow = Guard {
            allow_empty: true,
            ..g
        };
        assert_eq!(allow.check_rules(&with(2), Some(&[])), Ok(()));
    }

    #[test]
    fn empty_sets_are_refused_unless_allowed() {
        let g = Guard::default();
        assert_eq!(g.check(&index(&[]), &[]), Err(Refused::Empty));
        assert_eq!(g.check(&index(&["a"]), &[]), Err(Refused::Empty));
        let allow = Guard {
            allow_empty: true,
            max_removal_percent: 50,
        };
        assert_eq!(allow.check(&index(&["a"]), &[]), Ok(()));
        assert!(Refused::Empty.to_string().contains("allow_empty"));
    }

    #[test]
    fn removing_more_than_the_share_is_refused() {
        let g = Guard::default();
        let four = index(&["a", "b", "c", "d"]);
        // 2 of 4 removed (50 %): allowed; additions do not offset removals
        assert_eq!(g.check(&four, &ids(&["a", "b", "x", "y"])), Ok(()));
        let e = g.check(&four, &ids(&["a", "x", "y", "z"])).unwrap_err();
        assert_eq!(
            e,
            Refused::TooManyRemoved {
                removed: 3,
                in_force: 4,
                max_percent: 50
            }
        );
        assert!(e.to_string().contains("max_removal_percent = 50"), "{e}");
        // first load: nothing in force, no share to compare with
        assert_eq!(g.check(&index(&[]), &ids(&["x"])), Ok(()));
        let any = Guard {
            allow_empty: false,
            max_removal_percent: 100,
        };
        assert_eq!(any.check(&four, &ids(&["x"])), Ok(()));
        let none = Guard {
            allow_empty: false,
            max_removal_percent: 0,
        };
        assert!(none.check(&four, &ids(&["a", "b", "c"])).is_err());
        assert_eq!(none.check(&four, &ids(&["a", "b", "c", "d", "e"])), Ok(()));
    }
}
