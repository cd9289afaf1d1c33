// lssg: declarations only. See crates/torch/src/gloo_decl/README.md.
#pragma once
#include "gloo/context.h"
