//! What changed between an old manifest's domains and the current token index's training domains,
//! found by content digest ([`ContentDigest`]): a domain whose documents are the same is unchanged
//! whatever its name; a domain whose documents are exactly those of new domains together was split;
//! a name kept with other documents was changed; the rest were removed or added. Without digests (a
//! manifest an older remix wrote) domains are matched by name and training token count.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::tokens::ContentDigest;

/// Most unmatched new domains searched exhaustively for a split (2^16 subsets); beyond, only the
/// new domains named `<old>/...` (what `[cluster] within` names topics) are tried.
const SPLIT_SEARCH_DOMAINS: usize = 16;

/// One side's domain as the comparison sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub domain: String,
    pub digest: Option<ContentDigest>,
    /// Training tokens.
    pub tokens: u64,
    pub documents: u64,
}

/// How the domains were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Content digests on both sides.
    Digest,
    /// Name and training token count: the old manifest has no digests.
    NameAndTokens,
}

/// An old domain that is still there, perhaps renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Kept {
    pub old: String,
    pub new: String,
}

/// An old domain whose documents are now those of several new domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Split {
    pub old: String,
    pub into: Vec<String>,
}

/// A domain kept by name whose documents differ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Changed {
    pub domain: String,
    /// Training documents in the old manifest and now.
    pub old_documents: u64,
    pub new_documents: u64,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Changes {
    pub matched_by: MatchedBy,
    pub unchanged: Vec<Kept>,
    pub changed: Vec<Changed>,
    pub split: Vec<Split>,
    /// Old domains with no counterpart.
    pub removed: Vec<String>,
    /// New domains with no counterpart.
    pub added: Vec<String>,
}

impl Changes {
    /// Whether domains were only removed (and perhaps renamed): the old mixture over what is left
    /// is the answer.
    pub fn only_removed(&self) -> bool {
        self.changed.is_empty() && self.split.is_empty() && self.added.is_empty()
    }

    /// One line per kind that occurs, for the log and the CLI.
    pub fn describe(&self) -> String {
        let mut lines = Vec::new();
        let list = |v: Vec<String>| v.join(", ");
        if !self.unchanged.is_empty() {
            lines.push(format!(
                "unchanged: {}",
                list(
                    self.unchanged
                        .iter()
                        .map(|k| if k.old == k.new {
                            k.new.clone()
                        } else {
                            format!("{} (was {})", k.new, k.old)
                        })
                        .collect()
                )
            ));
        }
        if !self.added.is_empty() {
            lines.push(format!("added: {}", list(self.added.clone())));
        }
        if !self.removed.is_empty() {
            lines.push(format!("removed: {}", list(self.removed.clone())));
        }
        if !self.changed.is_empty() {
            lines.push(format!(
                "changed: {}",
                list(
                    self.changed
                        .iter()
                        .map(|c| format!(
                            "{} ({} -> {} documents)",
                            c.domain, c.old_documents, c.new_documents
                        ))
                        .collect()
                )
            ));
        }
        if !self.split.is_empty() {
            lines.push(format!(
                "split: {}",
                list(
                    self.split
                        .iter()
                        .map(|s| format!("{} -> {}", s.old, s.into.join(" + ")))
                        .collect()
                )
            ));
        }
        lines.join("\n")
    }
}

/// Compares the old manifest's domains with the new training domains.
pub fn compare(old: &[Side], new: &[Side]) -> Changes {
    let by_digest = old.iter().chain(new).all(|d| d.digest.is_some());
    let mut new_used = vec![false; new.len()];
    let mut old_used = vec![false; old.len()];
    let mut changes = Changes {
        matched_by: if by_digest {
            MatchedBy::Digest
        } else {
            MatchedBy::NameAndTokens
        },
        unchanged: Vec::new(),
        changed: Vec::new(),
        split: Vec::new(),
        removed: Vec::new(),
        added: Vec::new(),
    };
    let same = |o: &Side, n: &Side| {
        if by_digest {
            o.digest == n.digest
        } else {
            o.domain == n.domain && o.tokens == n.tokens
        }
    };
    // Unchanged: the same name first, then any name (a rename).
    for pass in [true, false] {
        for (i, o) in old.iter().enumerate() {
            if old_used[i] {
                continue;
            }
            let found = new
                .iter()
                .enumerate()
                .find(|(j, n)| !new_used[*j] && (!pass || n.domain == o.domain) && same(o, n));
            if let Some((j, n)) = found {
                old_used[i] = true;
                new_used[j] = true;
                changes.unchanged.push(Kept {
                    old: o.domain.clone(),
                    new: n.domain.clone(),
                });
            }
        }
    }
    if by_digest {
        for (i, o) in old.iter().enumerate() {
            if old_used[i] {
                continue;
            }
            if let Some(parts) = find_split(o, new, &new_used) {
                old_used[i] = true;
                for &j in &parts {
                    new_used[j] = true;
                }
                changes.split.push(Split {
                    old: o.domain.clone(),
                    into: parts.iter().map(|&j| new[j].domain.clone()).collect(),
                });
            }
        }
    }
    for (i, o) in old.iter().enumerate() {
        if old_used[i] {
            continue;
        }
        match new
            .iter()
            .enumerate()
            .find(|(j, n)| !new_used[*j] && n.domain == o.domain)
        {
            Some((j, n)) => {
                new_used[j] = true;
                changes.changed.push(Changed {
                    domain: o.domain.clone(),
                    old_documents: o.documents,
                    new_documents: n.documents,
                });
            }
            None => changes.removed.push(o.domain.clone()),
        }
    }
    changes.added = new
        .iter()
        .zip(&new_used)
        .filter(|(_, used)| !**used)
        .map(|(n, _)| n.domain.clone())
        .collect();
    changes
}

/// The unmatched new domains (at least two) whose digests add up to `old`'s: those named
/// `<old>/...` first; else, among at most [`SPLIT_SEARCH_DOMAINS`] unmatched ones, the first subset
/// in index order that does.
fn find_split(old: &Side, new: &[Side], used: &[bool]) -> Option<Vec<usize>> {
    let target = old.digest?;
    let free: Vec<usize> = (0..new.len()).filter(|&j| !used[j]).collect();
    let sum = |set: &[usize]| -> ContentDigest { set.iter().filter_map(|&j| new[j].digest).sum() };
    let prefix = format!("{}/", old.domain);
    let named: Vec<usize> = free
        .iter()
        .copied()
        .filter(|&j| new[j].domain.starts_with(&prefix))
        .collect();
    if named.len() >= 2 && sum(&named) == target {
        return Some(named);
    }
    if free.len() > SPLIT_SEARCH_DOMAINS {
        return None;
    }
    (1u32..1 << free.len())
        .filter(|mask| mask.count_ones() >= 2)
        .map(|mask| {
            (0..free.len())
                .filter(|b| mask & (1 << b) != 0)
                .map(|b| free[b])
                .collect::<Vec<_>>()
        })
        .find(|set| sum(set) == target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(domain: &str, digest: Option<u128>, tokens: u64) -> Side {
        Side {
            domain: domain.into(),
            digest: digest.map(ContentDigest),
            tokens,
            documents: tokens / 10,
        }
    }

    #[test]
    fn every_change_kind_by_digest() {
        let old = [
            side("web", Some(1), 100),
            side("code", Some(2), 100),
            side("pdf", Some(3), 100),
            side("books", Some(40), 100),
            side("gone", Some(5), 100),
        ];
        let new = [
            side("webtext", Some(1), 100), // renamed
            side("code", Some(2), 100),
            side("pdf", Some(33), 120),        // revised
            side("books/c00-a", Some(15), 50), // split
            side("books/c01-b", Some(25), 50),
            side("math", Some(9), 80), // added
        ];
        let c = compare(&old, &new);
        assert_eq!(c.matched_by, MatchedBy::Digest);
        assert_eq!(
            c.unchanged,
            [
                Kept {
                    old: "code".into(),
                    new: "code".into()
                },
                Kept {
                    old: "web".into(),
                    new: "webtext".into()
                },
            ]
        );
        assert_eq!(c.changed[0].domain, "pdf");
        assert_eq!(
            c.split,
            [Split {
                old: "books".into(),
                into: vec!["books/c00-a".into(), "books/c01-b".into()]
            }]
        );
        assert_eq!(c.removed, ["gone"]);
        assert_eq!(c.added, ["math"]);
        assert!(!c.only_removed());
        // A split found without the naming convention too.
        let renamed = [
            side("x", Some(15), 50),
            side("y", Some(7), 1),
            side("z", Some(25), 50),
        ];
        let c = compare(&old[3..4], &renamed);
        assert_eq!(c.split[0].into, ["x", "z"]);
        assert_eq!(c.added, ["y"]);
    }

    #[test]
    fn without_digests_by_name_and_tokens() {
        let old = [
            side("web", None, 100),
            side("code", None, 100),
            side("gone", None, 5),
        ];
        let new = [side("web", Some(1), 100), side("code", Some(2), 90)];
        let c = compare(&old, &new);
        assert_eq!(c.matched_by, MatchedBy::NameAndTokens);
        assert_eq!(c.unchanged.len(), 1);
        assert_eq!(c.changed[0].domain, "code");
        assert_eq!(c.removed, ["gone"]);
        let only = compare(&old, &new[..1]);
        assert!(only.only_removed(), "{only:?}");
        assert_eq!(only.removed, ["code", "gone"]);
    }
}
