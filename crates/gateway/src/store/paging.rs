//! `page` / `per_page` paging.

/// Default `per_page`.
pub const DEFAULT_PER_PAGE: usize = 100;
/// Largest `per_page`.
pub const MAX_PER_PAGE: usize = 1000;

/// A page request: 1-based `page`, `per_page` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: usize,
    /// Items per page (1..=1000).
    pub per_page: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl Page {
    /// Items to skip.
    pub fn offset(&self) -> usize {
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// Keeps the items of this page from an ordered iterator, counting every item.
    pub fn collect<T>(&self, items: impl Iterator<Item = T>) -> (usize, Vec<T>) {
        let offset = self.offset();
        let mut total = 0;
        let mut kept = Vec::with_capacity(self.per_page.min(64));
        for item in items {
            if total >= offset && kept.len() < self.per_page {
                kept.push(item);
            }
            total += 1;
        }
        (total, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_counts_everything_and_keeps_one_page() {
        let page = Page {
            page: 2,
            per_page: 3,
        };
        let (total, items) = page.collect(0..10);
        assert_eq!(total, 10);
        assert_eq!(items, vec![3, 4, 5]);
        let (total, items) = Page {
            page: 5,
            per_page: 3,
        }
        .collect(0..10);
        assert_eq!((total, items.len()), (10, 0));
    }
}
