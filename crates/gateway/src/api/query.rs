//! Query-string parsing with errors that name the parameter, plus paging.

use std::collections::HashMap;

use super::error::ApiError;
use crate::store::Page;
use crate::store::paging::MAX_PER_PAGE;

/// Parsed query parameters; each must be consumed or the request is refused.
#[derive(Debug, Default)]
pub struct Query {
    params: HashMap<String, String>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|error| ApiError::bad_request(format!("query: cannot be parsed: {error}")))?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (key, value) in pairs {
            if params.insert(key.clone(), value).is_some() {
                return Err(ApiError::bad_request(format!(
                    "{key}: given more than once"
                )));
            }
        }
        Ok(Self { params })
    }

    /// Takes a parameter.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.params.remove(name)
    }

    /// Takes and parses a parameter with `parse`, whose error becomes `name: error`.
    pub fn take_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.take(name)
            .map(|text| {
                parse(&text).map_err(|error| ApiError::bad_request(format!("{name}: {error}")))
            })
            .transpose()
    }

    /// Takes `page`, `per_page` and `page_meta`.
    pub fn take_paging(&mut self) -> Result<(Page, bool), ApiError> {
        let page = self
            .take_with("page", |text| positive(text, usize::MAX))?
            .unwrap_or(1);
        let per_page = self
            .take_with("per_page", |text| positive(text, MAX_PER_PAGE))?
            .unwrap_or(Page::default().per_page);
        let meta = self
            .take_with("page_meta", |text| match text {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!("{other:?} is not true or false")),
            })?
            .unwrap_or(false);
        Ok((Page { page, per_page }, meta))
    }

    /// Refuses parameters nobody took.
    pub fn finish(self, accepted: &[&str]) -> Result<(), ApiError> {
        let mut left: Vec<&String> = self.params.keys().collect();
        left.sort();
        match left.first() {
            None => Ok(()),
            Some(name) => Err(ApiError::bad_request(format!(
                "{name}: unknown query parameter; expected one of {}",
                accepted.join(", ")
            ))),
        }
    }
}

fn positive(text: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("{text:?} is not a positive integer")),
        Ok(n) if n > max => Err(format!("{n} is over the maximum of {max}")),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_limits_and_unknown_parameters() {
        let mut query = Query::parse(Some("page=2&page_meta=true")).unwrap();
        assert_eq!(
            query.take_paging().unwrap(),
            (
                Page {
                    page: 2,
                    per_page: 100
                },
                true
            )
        );
        let mut query = Query::parse(Some("per_page=1001")).unwrap();
        assert_eq!(
            query.take_paging().unwrap_err().message,
            "per_page: 1001 is over the maximum of 1000"
        );
        let query = Query::parse(Some("colour=red")).unwrap();
        assert!(
            query
                .finish(&["page"])
                .unwrap_err()
                .message
                .starts_with("colour: unknown query parameter")
        );
    }
}
