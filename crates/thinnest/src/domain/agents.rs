//! Agents: their public shape, the requests that make and change them, and the
//! limits of every field, declared once for the checks and the OpenAPI document.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fields::{Check, Invalid, TextField};
use super::ids::AgentId;

/// The engine an agent uses unless it names another.
pub const DEFAULT_MODEL: &str = "builtin";

crate::text_fields! {
    /// An agent's name.
    AgentName: 1..=200, non_blank;
    /// What the agent is for, for the people who manage it.
    AgentDescription: 0..=2000;
    /// The system prompt.
    Instructions: 0..=50000;
    /// What the agent says first.
    FirstMessage: 0..=2000;
    /// The model that answers; `builtin` unless another is given.
    Model: 1..=100;
    /// A speech provider.
    VoiceProvider: 1..=50;
    /// A provider's voice id.
    VoiceName: 1..=100;
    /// A BCP 47 language tag.
    Language: 2..=35;
}

/// The slowest and fastest speaking rates.
const SPEEDS: std::ops::RangeInclusive<f64> = 0.5..=2.0;

/// How the agent speaks on calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Voice {
    /// Speech provider, e.g. `builtin`.
    #[schema(schema_with = VoiceProvider::schema)]
    pub provider: String,
    /// The provider's voice id.
    #[schema(schema_with = VoiceName::schema)]
    pub voice_id: String,
    /// BCP 47 language tag.
    #[schema(schema_with = Language::schema)]
    pub language: String,
    /// Speaking rate, 0.5 to 2.0.
    #[schema(minimum = 0.5, maximum = 2.0)]
    pub speed: f64,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            provider: "builtin".to_owned(),
            voice_id: "default".to_owned(),
            language: "en-US".to_owned(),
            speed: 1.0,
        }
    }
}

impl Voice {
    fn check(&self, check: &mut Check) {
        check.field::<VoiceProvider>("voice.provider", &self.provider);
        check.field::<VoiceName>("voice.voice_id", &self.voice_id);
        check.field::<Language>("voice.language", &self.language);
        if !SPEEDS.contains(&self.speed) {
            check.fail("voice.speed", "must be between 0.5 and 2.0");
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agent {
    /// `agent_…`
    #[schema(value_type = String)]
    pub id: AgentId,
    pub name: String,
    pub description: String,
    /// The system prompt.
    pub instructions: String,
    /// What the agent says first.
    pub first_message: String,
    pub model: String,
    pub voice: Voice,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    #[schema(schema_with = AgentName::schema)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = AgentDescription::schema)]
    pub description: String,
    #[serde(default)]
    #[schema(schema_with = Instructions::schema)]
    pub instructions: String,
    #[serde(default)]
    #[schema(schema_with = FirstMessage::schema)]
    pub first_message: String,
    #[schema(schema_with = Model::nullable_schema)]
    pub model: Option<String>,
    pub voice: Option<Voice>,
}

/// Only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[schema(schema_with = AgentName::nullable_schema)]
    pub name: Option<String>,
    #[schema(schema_with = AgentDescription::nullable_schema)]
    pub description: Option<String>,
    #[schema(schema_with = Instructions::nullable_schema)]
    pub instructions: Option<String>,
    #[schema(schema_with = FirstMessage::nullable_schema)]
    pub first_message: Option<String>,
    #[schema(schema_with = Model::nullable_schema)]
    pub model: Option<String>,
    pub voice: Option<Voice>,
}

/// A new agent, checked, as it is stored.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub first_message: String,
    pub model: String,
    pub voice: Voice,
}

/// A change of an agent, checked; the fields not given stay `None`, and keep their
/// stored values.
#[derive(Debug, Clone, Default)]
pub struct AgentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub first_message: Option<String>,
    pub model: Option<String>,
    pub voice: Option<Voice>,
}

impl CreateAgent {
    /// The agent to store, or every problem of the request.
    pub fn checked(self) -> Result<NewAgent, Invalid> {
        let new = NewAgent {
            name: AgentName::stored(self.name),
            description: self.description,
            instructions: self.instructions,
            first_message: self.first_message,
            model: self.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            voice: self.voice.unwrap_or_default(),
        };
        let given = AgentChanges {
            name: Some(new.name.clone()),
            description: Some(new.description.clone()),
            instructions: Some(new.instructions.clone()),
            first_message: Some(new.first_message.clone()),
            model: Some(new.model.clone()),
            voice: Some(new.voice.clone()),
        };
        given.check()?;
        Ok(new)
    }
}

impl UpdateAgent {
    /// The change to store, or every problem of the fields given.
    pub fn checked(self) -> Result<AgentChanges, Invalid> {
        let changes = AgentChanges {
            name: self.name.map(AgentName::stored),
            description: self.description,
            instructions: self.instructions,
            first_message: self.first_message,
            model: self.model,
            voice: self.voice,
        };
        changes.check()?;
        Ok(changes)
    }
}

impl AgentChanges {
    /// Checks the fields given, with the same messages on creation and on a change.
    fn check(&self) -> Result<(), Invalid> {
        let mut check = Check::new();
        let texts = [
            ("name", &self.name, AgentName::MIN, AgentName::MAX),
            (
                "description",
                &self.description,
                AgentDescription::MIN,
                AgentDescription::MAX,
            ),
            (
                "instructions",
                &self.instructions,
                Instructions::MIN,
                Instructions::MAX,
            ),
            (
                "first_message",
                &self.first_message,
                FirstMessage::MIN,
                FirstMessage::MAX,
            ),
            ("model", &self.model, Model::MIN, Model::MAX),
        ];
        for (field, value, min, max) in texts {
            if let Some(value) = value {
                check.text(field, value, min, max);
            }
        }
        if let Some(voice) = &self.voice {
            voice.check(&mut check);
        }
        check.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_name_and_a_long_model_are_refused_together() {
        let invalid = CreateAgent {
            name: "   ".to_owned(),
            description: String::new(),
            instructions: String::new(),
            first_message: String::new(),
            model: Some("m".repeat(Model::MAX + 1)),
            voice: None,
        }
        .checked()
        .err()
        .map(|e| e.fields);
        let fields = invalid.unwrap_or_default();
        assert_eq!(fields["name"], "must not be empty");
        assert_eq!(fields["model"], "must be at most 100 characters");
    }

    #[test]
    fn a_change_checks_only_what_it_gives_and_trims_the_name() {
        let changes = UpdateAgent {
            name: Some("  Support  ".to_owned()),
            ..UpdateAgent::default()
        }
        .checked()
        .ok()
        .unwrap_or_default();
        assert_eq!(changes.name.as_deref(), Some("Support"));
        assert!(changes.voice.is_none() && changes.model.is_none());
    }
}
