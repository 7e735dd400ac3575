//! Asking a person at a terminal for fields they did not give.

use serde::{Serialize, de::DeserializeOwned};

/// Prompts for each required field of `input` that is missing, and returns the completed input.
pub fn fill_missing<T: Serialize + DeserializeOwned>(input: T, required: &[&str]) -> anyhow::Result<T> {
    let mut value = serde_json::to_value(&input)?;
    let Some(map) = value.as_object_mut() else {
        return Ok(input);
    };
    for field in required {
        let missing = match map.get(*field) {
            None | Some(serde_json::Value::Null) => true,
            Some(serde_json::Value::String(s)) => s.trim().is_empty(),
            _ => false,
        };
        if missing {
            let answer: String = dialoguer::Input::new().with_prompt(field.replace('_', " ")).interact_text()?;
            map.insert(field.to_string(), serde_json::Value::String(answer));
        }
    }
    Ok(serde_json::from_value(value)?)
}
