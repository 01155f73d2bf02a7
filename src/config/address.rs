//! Resource names and addresses, written down once.
//!
//! A resource's name is what the state records it under and what references, `depends_on`,
//! `moved_from`, `import` and `state show` take: `content_bucket`, `queue["orders"]`, or
//! inside a module instance `module.tenant["alpha"].content_bucket` (nested modules repeat
//! the `module.NAME["KEY"].` part; a module without `for_each` has no key). Its address is
//! the name with the type, as plans and `state list` show it: `s3.bucket.content_bucket`,
//! and for a resource of a module `module.tenant["alpha"].s3.bucket.content_bucket` (the
//! module path first, as Terraform writes it).

/// The address of resource `name` of type `type_name`.
pub fn address(type_name: &str, name: &str) -> String {
    let (module, local) = split_module(name);
    format!("{module}{type_name}.{local}")
}

/// `module.tenant["alpha"].content_bucket` -> (`module.tenant["alpha"].`, `content_bucket`);
/// a name outside any module has an empty module path.
pub fn split_module(name: &str) -> (&str, &str) {
    let end = module_path_len(name);
    (&name[..end], &name[end..])
}

/// The name of one module instance: `module.tenant["alpha"]`, or `module.tenant` for a
/// module without `for_each`, under `parent` (the enclosing instance's path with its dot).
pub fn module_instance(parent: &str, module: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{parent}module.{module}[\"{key}\"]"),
        None => format!("{parent}module.{module}"),
    }
}

/// How many bytes of `text` are the leading `module.NAME["KEY"].` parts (each with its
/// dot), 0 when it does not start with one. `module.x` alone (no dot after) is no path.
pub fn module_path_len(text: &str) -> usize {
    let mut end = 0;
    loop {
        let rest = &text[end..];
        let Some(after) = rest.strip_prefix("module.") else {
            return end;
        };
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        if name_len == 0 {
            return end;
        }
        let mut len = "module.".len() + name_len;
        if let Some(keyed) = rest[len..].strip_prefix("[\"") {
            let Some(close) = keyed.find("\"]") else {
                return end;
            };
            len += 2 + close + 2;
        }
        if !rest[len..].starts_with('.') {
            return end;
        }
        end += len + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_are_split_off_names_and_put_first_in_addresses() {
        assert_eq!(
            split_module("module.tenant[\"alpha\"].content_bucket"),
            ("module.tenant[\"alpha\"].", "content_bucket")
        );
        assert_eq!(
            split_module("module.a.module.b[\"k.x\"].q[\"z\"]"),
            ("module.a.module.b[\"k.x\"].", "q[\"z\"]")
        );
        assert_eq!(split_module("queue"), ("", "queue"));
        assert_eq!(split_module("module.tenant"), ("", "module.tenant"));
        assert_eq!(
            address("s3.bucket", "module.tenant[\"alpha\"].content_bucket"),
            "module.tenant[\"alpha\"].s3.bucket.content_bucket"
        );
        assert_eq!(address("sqs.queue", "q[\"a\"]"), "sqs.queue.q[\"a\"]");
        assert_eq!(
            module_instance("module.a.", "b", Some("k")),
            "module.a.module.b[\"k\"]"
        );
    }
}
