#include "proto/kafka/kafka_errors.h"

const char *kafka_error_name(int16_t code)
{
    switch (code) {
#define KAFKA_ERROR_CASE_(name, value)                                                             \
    case value:                                                                                    \
        return #name;
        KAFKA_ERRORS(KAFKA_ERROR_CASE_)
#undef KAFKA_ERROR_CASE_
    }
    return "UNKNOWN_ERROR_CODE";
}
