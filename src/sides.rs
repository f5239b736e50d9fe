//! The two sides of every comparison: `Side` names one (`prod` or
//! `candidate`, the words every file and report uses), `Sides<T>` holds one
//! value per side, so code says `sides.candidate` instead of `[1]` or
//! `"candidate"`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which side a table, output or run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Prod,
    Candidate,
}

impl Side {
    /// Both, prod first: the order of every listing.
    pub const BOTH: [Side; 2] = [Side::Prod, Side::Candidate];

    /// The side across from this one.
    pub fn other(self) -> Side {
        match self {
            Side::Prod => Side::Candidate,
            Side::Candidate => Side::Prod,
        }
    }

    /// The side's name in files, reports and the project file.
    pub fn name(self) -> &'static str {
        match self {
            Side::Prod => "prod",
            Side::Candidate => "candidate",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `T` per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sides<T> {
    pub prod: T,
    pub candidate: T,
}

impl<T> Sides<T> {
    pub fn new(prod: T, candidate: T) -> Self {
        Sides { prod, candidate }
    }

    /// Each side's value made from the side.
    pub fn by(mut make: impl FnMut(Side) -> T) -> Self {
        Sides {
            prod: make(Side::Prod),
            candidate: make(Side::Candidate),
        }
    }

    pub fn get(&self, side: Side) -> &T {
        match side {
            Side::Prod => &self.prod,
            Side::Candidate => &self.candidate,
        }
    }

    pub fn as_ref(&self) -> Sides<&T> {
        Sides::new(&self.prod, &self.candidate)
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Sides<U> {
        Sides::new(f(self.prod), f(self.candidate))
    }

    /// `f` of each side's value and the side.
    pub fn map_sides<U>(self, mut f: impl FnMut(Side, T) -> U) -> Sides<U> {
        Sides::new(f(Side::Prod, self.prod), f(Side::Candidate, self.candidate))
    }

    /// `f` of each side, prod first; the first error stops it.
    pub fn try_map_sides<U, E>(
        self,
        mut f: impl FnMut(Side, T) -> Result<U, E>,
    ) -> Result<Sides<U>, E> {
        Ok(Sides::new(
            f(Side::Prod, self.prod)?,
            f(Side::Candidate, self.candidate)?,
        ))
    }

    /// Each side with its value, prod first.
    pub fn iter(&self) -> impl Iterator<Item = (Side, &T)> {
        [(Side::Prod, &self.prod), (Side::Candidate, &self.candidate)].into_iter()
    }

    /// The values, prod first.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        [&self.prod, &self.candidate].into_iter()
    }

    pub fn into_vec(self) -> Vec<T> {
        vec![self.prod, self.candidate]
    }
}

impl<T> std::ops::Index<Side> for Sides<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        self.get(side)
    }
}

impl<T> std::ops::IndexMut<Side> for Sides<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Prod => &mut self.prod,
            Side::Candidate => &mut self.candidate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_is_named_as_files_and_reports_name_it() {
        assert_eq!(Side::BOTH.map(Side::name), ["prod", "candidate"]);
        assert_eq!(
            serde_json::to_string(&Side::Candidate).unwrap(),
            "\"candidate\""
        );
        let sides = Sides::by(|side| side.name().len());
        assert_eq!(sides[Side::Prod], 4);
        assert_eq!(sides.candidate, 9);
        let listed: Vec<(Side, usize)> = sides.iter().map(|(s, n)| (s, *n)).collect();
        assert_eq!(listed, [(Side::Prod, 4), (Side::Candidate, 9)]);
    }
}
