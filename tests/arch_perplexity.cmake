# test_arch_perplexity runs 16 models x 20 chunks of 512 tokens (the figures of
# ../shared/models/arch/README.md need exactly that): about 14 minutes of CPU on lavapipe,
# so it gets more than the default 900 s.
if(TARGET test_arch_perplexity)
  set_tests_properties(test_arch_perplexity PROPERTIES TIMEOUT 3600)
endif()
