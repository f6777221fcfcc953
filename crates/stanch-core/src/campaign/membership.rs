//! A campaign's members as accounts, not names: two members the directory says are one account
//! become one, and stored rows that name one account are read as one.

use chrono::{DateTime, Utc};

use super::{Campaign, Member};

/// Stored member rows, one per account, as a campaign restored from them counts them: rows
/// that share a name (one written late, by a batch grouped before the names were known as one)
/// fold into the earliest.
pub fn one_per_account(mut members: Vec<Member>) -> Vec<Member> {
    members.sort_by(|a, b| (a.joined_at, &a.account).cmp(&(b.joined_at, &b.account)));
    let mut campaign = Campaign::new(String::new(), DateTime::<Utc>::MIN_UTC);
    for member in members {
        campaign.add_member(member);
    }
    campaign.members
}

/// What [`Campaign::unify`] did to a campaign's members.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::campaign) enum Unified {
    /// No member goes by either name, or one already has both.
    Nothing,
    /// The member at this index now carries both names.
    Completed(usize),
    /// Two members were one account: `member`, at index `removed` before it was taken out, is
    /// now part of the member at `kept` (an index after the removal).
    Merged {
        kept: usize,
        removed: usize,
        member: Member,
    },
}

impl Campaign {
    /// The directory says `id` and `upn` are one account: the members known by either name
    /// become one. The earliest to join stays (its `via`), contained if either was, with both
    /// names; the other is removed, and the indices are rebuilt.
    pub(in crate::campaign) fn unify(&mut self, id: &str, upn: &str) -> Unified {
        let (i, j) = match (self.member_index(upn), self.member_index(id)) {
            (Some(i), Some(j)) if i != j => (i, j),
            (Some(i), _) | (None, Some(i)) => {
                let known = &self.members[i];
                if known.upn.is_some() && known.id.is_some() {
                    return Unified::Nothing;
                }
                let both = Member {
                    account: known.account.clone(),
                    upn: Some(upn.to_string()),
                    id: Some(id.to_string()),
                    joined_at: known.joined_at,
                    via: String::new(),
                    contained: false,
                };
                self.add_member(both);
                return Unified::Completed(i);
            }
            (None, None) => return Unified::Nothing,
        };
        let order = |m: &Member| (m.joined_at, m.account.clone());
        let (keep, drop) = if order(&self.members[i]) <= order(&self.members[j]) {
            (i, j)
        } else {
            (j, i)
        };
        let removed = self.members.remove(drop);
        let kept = if keep > drop { keep - 1 } else { keep };
        let member = &mut self.members[kept];
        member.upn = member.upn.take().or(removed.upn.clone());
        member.upn.get_or_insert_with(|| upn.to_string());
        member.id = member.id.take().or(removed.id.clone());
        member.id.get_or_insert_with(|| id.to_string());
        member.contained |= removed.contained;
        self.member_index.clear();
        self.ordered.accounts.clear();
        for (n, member) in self.members.iter().enumerate() {
            self.ordered
                .accounts
                .insert((member.joined_at, member.name().to_string()));
            for name in member.names() {
                self.member_index.entry(name.into()).or_insert(n);
            }
        }
        Unified::Merged {
            kept,
            removed: drop,
            member: removed,
        }
    }
}
