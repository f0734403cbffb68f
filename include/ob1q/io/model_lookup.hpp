// --model NAME: a directory as given, or a model already on this machine in the local Hugging Face
// cache or in $OB1Q_MODELS. Never touches the network.
#pragma once
#include <string>

namespace ob1q::io {

// Where the model `spec` lives:
// - an existing path (directory, or a config.json file): itself;
// - "ORG/NAME": <hub>/models--ORG--NAME/snapshots/<the commit refs/main names>, where <hub> is
//   $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
//   ~/.cache/huggingface/hub (huggingface_hub's own order);
// - "NAME": $OB1Q_MODELS/NAME.
// Paths that cannot be a model id (absolute, ./ or ../, ~, more than one '/') are returned as
// given, for the reader to report. Otherwise throws Error("<spec>: ...") listing every place looked
// at and why each failed (no refs/main, a snapshot missing, a file of the snapshot a broken link to
// a blob that is gone) and how to get the model (huggingface-cli download ORG/NAME).
std::string resolve_model(const std::string& spec);

// The hub cache directory the lookup uses (from the environment, see above).
std::string hf_hub_cache();

}  // namespace ob1q::io
